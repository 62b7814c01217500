"""The run report `wmemb run` writes at the end of its evaluate stage: report/report.html and report/report.md.

`run` gathers what the run left on disk and writes the files (`write_run_report`); each section of the page
is its own module, a function returning its `Section` (charts included, as blocks): `verdict`, `training`,
`funnel` (the data), `queries`, `vocabulary`, `serving` and `usage`. The blocks, charts and tables they are
made of come from `wmemb.render`; the final-model decision and the bootstrap behind it from `wmemb.evaluate`.
"""
