"""Markdown and chart of a `kgx eval harvest` report."""

from __future__ import annotations

from pathlib import Path

from kgx.evaluation.harvest import BaselineTable, Diversity, HarvestReport, RelationScores


def harvest_markdown(report: HarvestReport) -> str:
    """Per-relation precision, recall, novelty and diversity, and the baseline table."""
    from kgx.evaluation.reports import markdown_table

    ks = [str(k) for k in report.ks]
    headers = ["relation", "tuples", "distinct", "gold", *(f"P@{k}" for k in ks),
               f"R@{ks[-1]}", "recall", "novelty", "entities", "per slot", "distinct-entity"]
    rows = [_relation_row(s, ks) for s in report.relations]
    rows.append(["all (macro P/R)", report.diversity.tuples, report.diversity.distinct_tuples,
                 sum(s.gold for s in report.relations),
                 *(_cell(report.macro_precision_at[k]) for k in ks),
                 _cell(report.macro_recall_at[ks[-1]]), _cell(report.macro_recall),
                 _cell(report.novelty), *_diversity_cells(report.diversity)])
    text = f"## BertNet harvest evaluation\n\n{_summary(report)}\n{markdown_table(headers, rows)}"
    if report.baseline is not None:
        text += "\n" + _baseline_markdown(report.baseline, ks)
    return text


def _relation_row(s: RelationScores, ks: list[str]) -> list[object]:
    return [s.relation, s.diversity.tuples, s.diversity.distinct_tuples, s.gold,
            *(_cell(s.precision_at[k]) for k in ks), _cell(s.recall_at[ks[-1]]),
            _cell(s.recall), _cell(s.novelty), *_diversity_cells(s.diversity)]


def _diversity_cells(d: Diversity) -> list[object]:
    return [d.distinct_entities, "/".join(str(n) for n in d.distinct_per_slot),
            d.distinct_entity_tuple_share]


def _summary(report: HarvestReport) -> str:
    gold = " + ".join(report.gold_sources) or "none given (precision and recall are n/a)"
    kb = report.kb_file or "none given (novelty is n/a)"
    models = ", ".join(report.models) or "model not recorded"
    return (f"Harvest: {report.harvest_file or 'in memory'} ({models}). Gold: {gold}. "
            f"KB for novelty: {kb}.\n\n"
            "P@k: share of a relation's top-k distinct tuples in its gold set; R@k and recall: "
            "share of the gold set in the top-k and in the whole harvest; macro figures average "
            "the relations that have gold. Distinct-entity: share of tuples whose entities all "
            "differ.\n")


def _baseline_markdown(table: BaselineTable, ks: list[str]) -> str:
    from kgx.evaluation.reports import markdown_table

    headers = ["relation", "ours", "baseline", "ours entities", "baseline entities", "overlap",
               "novel vs baseline", *(f"P@{k} ours / baseline" for k in ks)]
    rows = [[r.relation, r.ours_tuples, r.baseline_tuples, r.ours_entities, r.baseline_entities,
             r.overlap, r.novelty_vs_baseline,
             *(_pair(r.ours_precision_at[k], r.baseline_precision_at[k]) for k in ks)]
            for r in table.rows]
    rows.append(["macro", "", "", "", "", "", "",
                 *(_pair(table.ours_macro_precision_at[k], table.baseline_macro_precision_at[k])
                   for k in ks)])
    missing = (f"\nNot in the baseline: {', '.join(table.only_in_harvest)}.\n"
               if table.only_in_harvest else "")
    return (f"### Against the baseline ({table.file or 'in memory'})\n\nTuples are distinct and "
            "normalised; precision is against the same gold.\n\n"
            f"{markdown_table(headers, rows)}{missing}")


def _cell(value: float | None) -> float | str:
    return "n/a" if value is None else value


def _pair(ours: float | None, theirs: float | None) -> str:
    return " / ".join("n/a" if v is None else f"{v:.3f}" for v in (ours, theirs))


def precision_plot(report: HarvestReport):
    """A plot function (for `write_report`) of precision@k per relation; None without gold."""
    if report.macro_precision_at[str(report.ks[0])] is None:
        return None
    return lambda path: _bar_plot(path, report)


def _bar_plot(path: Path, report: HarvestReport) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [s.relation for s in report.relations] + ["macro"]
    series = [s.precision_at for s in report.relations] + [report.macro_precision_at]
    width = 0.8 / len(report.ks)
    top = max((p[str(k)] or 0.0 for p in series for k in report.ks), default=0.0)
    figure, axes = plt.subplots(figsize=(max(6.0, 0.6 * len(names) + 2), 4))
    for i, k in enumerate(report.ks):
        axes.bar([x + i * width for x in range(len(names))],
                 [p[str(k)] or 0.0 for p in series], width, label=f"P@{k}")
    axes.set_xticks([x + width * (len(report.ks) - 1) / 2 for x in range(len(names))], names,
                    rotation=45, ha="right")
    axes.set(ylabel="precision", title="Harvest precision@k against gold",
             ylim=(0, min(1.02, max(0.05, top * 1.15))))
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
