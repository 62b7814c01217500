"""Code the tests share: a local OpenAI-protocol LLM server, small bilingual inputs for each stage, a headless
browser. Imported as `helpers.<module>` (pyproject's pytest `pythonpath` puts tests/ on the path); conftest.py
files hold fixtures only."""
