"""Ranking prompts (both papers' styles) and reading rankings back out of answers."""

from __future__ import annotations

import pytest

from seqrec.models.llm.prompts import build_prompt, labels_for, parse_listing, parse_ranking

HISTORY = ["Toy Story (1995)", "Heat (1995)", "Alien (1979)"]
CANDIDATES = ["Aliens (1986)", "Alien (1979)", "Fargo (1996)", "Babe (1995)"]


def test_llamarec_prompt_letters_candidates_and_lists_the_history_oldest_first() -> None:
    prompt = build_prompt("llamarec", HISTORY, CANDIDATES, item_kind="movies")
    lines = prompt.text.splitlines()
    assert prompt.labels == ("A", "B", "C", "D")
    assert (
        lines.index("(1) Toy Story (1995)")
        < lines.index("(3) Alien (1979)")
        < lines.index("(A) Aliens (1986)")
    )
    assert "(D) Babe (1995)" in lines
    assert "letter" in prompt.text and "(A-D)" in prompt.text


def test_llmrank_prompt_numbers_candidates_and_asks_to_rank_them_all() -> None:
    prompt = build_prompt("llmrank", HISTORY, CANDIDATES, item_kind="movies")
    assert prompt.labels == ("1", "2", "3", "4")
    assert "[4] Babe (1995)" in prompt.text.splitlines()
    assert "3. Alien (1979)" in prompt.text.splitlines()
    assert "Rank these 4 movies" in prompt.text


def test_the_history_is_capped_to_the_most_recent_items() -> None:
    prompt = build_prompt("llamarec", [f"Film {i}" for i in range(30)], CANDIDATES, max_history=5)
    history, _, _ = parse_listing(prompt.text)
    assert history == ["Film 25", "Film 26", "Film 27", "Film 28", "Film 29"]


def test_the_recency_instruction_names_the_most_recent_item() -> None:
    plain = build_prompt("llmrank", HISTORY, CANDIDATES)
    recent = build_prompt("llmrank", HISTORY, CANDIDATES, recency_instruction=True)
    assert "most recent" not in plain.text
    assert 'the most recent of them is "Alien (1979)"' in recent.text
    assert "pay more attention to the most recent" in recent.text


def test_titles_are_put_on_one_line() -> None:
    prompt = build_prompt("llamarec", ["a\nb"], ["x \n  y", ""])
    assert "(1) a b" in prompt.text.splitlines()
    assert prompt.titles == ("x y", "item")


def test_parse_listing_reads_back_both_styles() -> None:
    for style in ("llamarec", "llmrank"):
        prompt = build_prompt(style, HISTORY, CANDIDATES, recency_instruction=True)
        history, labels, titles = parse_listing(prompt.text)
        assert history == HISTORY and labels == list(prompt.labels) and titles == CANDIDATES


def test_letters_run_out_after_z() -> None:
    assert labels_for("llamarec", 26)[-1] == "Z"
    with pytest.raises(ValueError, match="at most 26"):
        labels_for("llamarec", 27)


# -- parsing ------------------------------------------------------------------------------------
def test_titles_match_the_longest_candidate_title_not_a_shorter_one_inside_it() -> None:
    prompt = build_prompt("llmrank", HISTORY, CANDIDATES)
    parsed = parse_ranking("1. Aliens (1986)\n2. Alien (1979)", prompt)
    assert parsed.named == [0, 1]


def test_a_title_without_its_year_still_matches() -> None:
    prompt = build_prompt("llmrank", HISTORY, CANDIDATES)
    assert parse_ranking("Fargo\nBabe", prompt).named == [2, 3]


def test_invented_items_and_duplicates_are_counted_and_ignored() -> None:
    prompt = build_prompt("llmrank", HISTORY, CANDIDATES)
    answer = "Here is my ranking:\n1. Fargo (1996)\n2. Titanic (1997)\n3. Fargo (1996)\n4. [4]\n5. [4] Babe (1995)"
    parsed = parse_ranking(answer, prompt)
    assert parsed.named == [2, 3]
    assert parsed.invented == 2  # the preamble and Titanic
    assert "2. Titanic (1997)" in parsed.invented_lines
    assert parsed.duplicates == 2  # Fargo again, Babe again
    assert not parsed.failed


def test_missing_candidates_follow_in_listed_order() -> None:
    prompt = build_prompt("llmrank", HISTORY, CANDIDATES)
    parsed = parse_ranking("[3]\n[1]", prompt)
    assert parsed.named == [2, 0]
    assert parsed.order == [2, 0, 1, 3]


def test_bare_numbers_and_numbers_out_of_range() -> None:
    prompt = build_prompt("llmrank", HISTORY, CANDIDATES)
    parsed = parse_ranking("2\n9\n4.", prompt)
    assert parsed.named == [1, 3]
    assert parsed.invented == 1


def test_llamarec_answers_by_letter_in_the_usual_forms() -> None:
    prompt = build_prompt("llamarec", HISTORY, CANDIDATES)
    assert parse_ranking("C", prompt).named == [2]
    assert parse_ranking("(D)", prompt).named == [3]
    assert parse_ranking("The answer is (B).", prompt).named == [1]
    assert parse_ranking("B) something", prompt).named == [1]
    # An article at the start of a sentence is no label.
    assert parse_ranking("A good choice would be something else", prompt).failed


def test_an_answer_naming_nothing_is_a_failure_and_keeps_the_listed_order() -> None:
    prompt = build_prompt("llamarec", HISTORY, CANDIDATES)
    parsed = parse_ranking("I cannot help with that.", prompt)
    assert parsed.failed and parsed.named == [] and parsed.order == [0, 1, 2, 3]
    assert parse_ranking("", prompt).failed


def test_bare_id_titles_match_only_whole_numbers() -> None:
    prompt = build_prompt("llmrank", ["1"], ["2", "12"])
    assert parse_ranking("12", prompt).named == [1]  # the title "12", not "2" inside it
