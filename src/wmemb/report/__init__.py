"""Reports people read: the run report page (`page`), its charts (`charts`), tables (`tables`) and
the paired bootstrap behind its verdict (`bootstrap`).

Modules are imported by name (`from wmemb.report.charts import bar_chart`): `charts`, `tables` and
`bootstrap` depend on nothing else in wmemb, so evaluate and train can use them without a cycle.
"""
