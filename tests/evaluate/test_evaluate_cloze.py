"""The cloze judge: one sentence of each passage is cut out and must find the rest (zh and en)."""

from __future__ import annotations

from wmemb.evaluate.cloze import ClozeRules, cloze_dataset

EN = (
    "CVS keeps a history of every file in a repository. Each commit records who changed what and why. "
    "You can ask for any earlier revision of a file by its number or its date. Branches let several lines "
    "of development go on at once."
)
ZH = "革兰氏阳性菌的细胞壁较厚。它含有大量的肽聚糖和磷壁酸。结晶紫染色后用酒精脱色不会褪色。因此在显微镜下呈紫色。"
SHORT = "Only one sentence here, and it is long enough to be a query."


def test_each_passage_of_three_sentences_or_more_gives_one_query_cut_out_of_it():
    data = cloze_dataset([("en", EN), ("zh", ZH), ("short", SHORT)], seed=0).validate()

    assert set(data.corpus) == {"en", "zh", "short"}  # every passage stays a distractor
    assert data.corpus["short"] == SHORT  # too short to give a query: unchanged
    assert set(data.relevant_docs) == {"cloze-en", "cloze-zh"}
    for passage_id, original in (("en", EN), ("zh", ZH)):
        query = data.queries[f"cloze-{passage_id}"]
        assert data.relevant_docs[f"cloze-{passage_id}"] == [passage_id]
        assert query in original  # a sentence of the passage, as written
        assert query not in data.corpus[passage_id]  # ... and no longer in it
        # nothing else of the passage is lost
        rest = original.replace(query, "")
        assert "".join(data.corpus[passage_id].split()) == "".join(rest.split())


def test_the_choice_is_seeded_and_depends_on_the_seed():
    first = cloze_dataset([("en", EN)], seed=0).queries
    assert cloze_dataset([("en", EN)], seed=0).queries == first
    picks = {next(iter(cloze_dataset([("en", EN)], seed=seed).queries.values())) for seed in range(20)}
    assert len(picks) > 1


def test_sentences_outside_the_length_rules_are_never_queries():
    rules = ClozeRules(min_units=8, max_units=8)  # only the 8-word "Each commit records who changed what and why." fits
    for seed in range(10):
        (query,) = cloze_dataset([("en", EN)], seed=seed, rules=rules).queries.values()
        assert query == "Each commit records who changed what and why."
