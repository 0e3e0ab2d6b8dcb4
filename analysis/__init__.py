"""Research toolkit for China's family-planning statistics.

Modules (imported lazily so that ``import analysis`` stays fast):

- :mod:`analysis.data` – embedded real data: catalog, loaders, schemas, region registry, build step.
- :mod:`analysis.srb` – sex ratio at birth: intervals, tests, trends, funnel plots, shrinkage.
- :mod:`analysis.its`, :mod:`analysis.did` – two-child-policy designs.
- :mod:`analysis.coverage`, :mod:`analysis.migrants` – migrant service coverage and burden.
- :mod:`analysis.extract` – indicators from report text.
- :mod:`analysis.plots` – one figure theme, CJK fonts, ``save_figure``.
- :mod:`analysis.batch` – run the notebooks per district.
"""

__version__ = "0.1.0"
