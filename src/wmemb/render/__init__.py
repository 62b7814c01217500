"""Rendering for every report: blocks rendered as Markdown and as one self-contained HTML page (`document`),
SVG charts (`charts`) and Markdown tables (`tables`).

It depends on nothing else in wmemb but `wmemb.text` (which imports nothing of wmemb), so the evaluation
report, the model card, the experiment and the run report (wmemb.report) all use it without a cycle. Modules
are imported by name: `from wmemb.render.charts import bar_chart`.
"""
