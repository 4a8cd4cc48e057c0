"""Where one model wins and where it loses: its standing in each table of one or more benchmarks.

A benchmark table answers "how did every model do on this scene and split"; the question a
reader of a paper asks is the transposed one: "across scenes and protocols, where does *this*
model come first, and by how much does it trail where it does not". :func:`table_standings` takes
the rows of one ``mssfe benchmark`` table and, for every (scene, split), ranks
the reference model and pairs it seed by seed with its strongest rival (the same split and test
pixels per seed, so the split-to-split spread cancels out of the difference).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from mssfe.evaluation.metrics import format_pm
from mssfe.evaluation.table import BenchmarkMeta, BenchmarkRow, rows_of

PAPER = "paper"  # the recipe of every table written before recipes existed


def row_recipe(row: BenchmarkRow) -> str:
    """The training recipe of a benchmark row (a row written before recipes: ``paper``)."""
    return row.recipe or PAPER


def row_label(row: BenchmarkRow, recipes: bool) -> str:
    """``model``, or ``model (recipe)`` in a table with several recipes."""
    return f"{row.model} ({row_recipe(row)})" if recipes else row.model


def has_recipes(rows: Sequence[BenchmarkRow]) -> bool:
    """Whether rows need their recipe named: rows of ``paper`` alone render as they always did."""
    return any(row_recipe(r) != PAPER for r in rows)


@dataclass(frozen=True)
class Paired:
    """``row`` minus ``reference`` on the seeds both ran: OA points, and seeds ``row`` won."""

    mean: float
    std: float
    better: int
    n: int

    @property
    def sem(self) -> float:
        """Standard error of the mean difference over seeds."""
        return self.std / float(np.sqrt(self.n))

    def __str__(self) -> str:
        return f"{self.mean:+.2f} ± {self.std:.2f} ({self.better}/{self.n})"


def paired_difference(row: BenchmarkRow, reference: BenchmarkRow) -> Paired | None:
    """OA of ``row`` minus OA of ``reference``, seed by seed, in points (None: no common seed)."""
    if row.oa_per_seed is None or reference.oa_per_seed is None:
        return None
    return paired_by_seed(
        dict(zip(row.seeds, row.oa_per_seed, strict=True)),
        dict(zip(reference.seeds, reference.oa_per_seed, strict=True)),
        scale=100,
    )


def paired_by_seed(
    mine: Mapping[int, float], ref: Mapping[int, float], scale: float = 1.0
) -> Paired | None:
    """``mine`` minus ``ref`` on the seeds both have, times ``scale`` (None: no common seed)."""
    common = sorted(set(mine) & set(ref))
    if not common:
        return None
    diff = np.array([mine[s] - ref[s] for s in common]) * scale
    std = float(diff.std(ddof=1)) if diff.size > 1 else 0.0
    return Paired(float(diff.mean()), std, int((diff > 0).sum()), int(diff.size))


@dataclass(frozen=True)
class Standing:
    """The reference model in one (scene, split) of one benchmark table."""

    source: str
    scene: str
    simulated: bool
    protocol: str
    budget: str
    reference: BenchmarkRow
    rank: int  # 1 = highest mean OA
    n_models: int
    rival: BenchmarkRow | None  # the best other model by mean OA
    pairs: Mapping[str, Paired]  # every other model (with a common seed): it minus the reference
    recipe: str = PAPER  # every model of this standing was trained with this recipe

    @property
    def ssl_pool(self) -> str:
        return self.reference.ssl_pool or "none"

    @property
    def paired(self) -> Paired | None:
        """The rival minus the reference, seed by seed."""
        return None if self.rival is None else self.pairs.get(self.rival.model)

    @property
    def beaten(self) -> int:
        """Other models whose paired mean OA is below the reference's."""
        return sum(p.mean < 0 for p in self.pairs.values())

    @property
    def runner_up_gap(self) -> float | None:
        """The reference's mean OA minus the rival's, in points."""
        if self.rival is None:
            return None
        return (self.reference.oa_mean - self.rival.oa_mean) * 100


def _budget(meta: BenchmarkMeta) -> str:
    epochs = meta.epoch_budget.max_epochs or "default"
    patience = meta.epoch_budget.patience or "default"
    return f"{epochs} ep / patience {patience}"


def table_standings(
    meta: BenchmarkMeta, rows: Sequence[BenchmarkRow], reference: str, source: str
) -> list[Standing]:
    """The reference model's standing in every (scene, split, recipe) of one table's rows:
    it is ranked against the models trained with the same recipe.

    A (scene, split, recipe) the reference did not run in is left out.
    """
    found: list[Standing] = []
    groups = dict.fromkeys((r.scene, r.protocol, row_recipe(r)) for r in rows)
    for scene, protocol, recipe in groups:
        sub = [r for r in rows_of(rows, scene, protocol) if row_recipe(r) == recipe]
        ref = next((r for r in sub if r.model == reference), None)
        if ref is None:
            continue
        others = sorted((r for r in sub if r is not ref), key=lambda r: r.oa_mean, reverse=True)
        pairs = {r.model: paired_difference(r, ref) for r in others}
        found.append(
            Standing(
                source=source,
                scene=scene,
                simulated=ref.is_simulated,
                protocol=protocol,
                budget=_budget(meta),
                reference=ref,
                rank=1 + sum(r.oa_mean > ref.oa_mean for r in others),
                n_models=len(sub),
                rival=others[0] if others else None,
                pairs={m: p for m, p in pairs.items() if p is not None},
                recipe=recipe,
            )
        )
    return found


def best_of(
    tables: Sequence[tuple[BenchmarkMeta, Sequence[BenchmarkRow]]], reference: str
) -> tuple[BenchmarkMeta, list[BenchmarkRow]]:
    """One table from several runs of the same grid under different training budgets (e.g. a
    shared epoch budget and each model's own paper budget): the reference's rows as the first
    table has them, every other model's (scene, split, recipe) row from the table where its mean
    OA is highest, its model name marked with that table's budget when it is not the first's.

    Picking by test OA favours the other models only, never the reference: a handicap for the
    reference, which is the point (a win over an under-trained baseline is worth nothing).
    The tables must share seeds, test subset and guard band, so each (scene, split, seed) has
    the same pixels in all of them (splits are drawn from these alone) and rows stay paired.
    """
    if not tables:
        raise ValueError("best_of needs at least one table")
    first_meta = tables[0][0]
    for meta, _ in tables[1:]:
        for field in ("seeds", "max_test", "guard_patch"):
            if getattr(meta, field) != getattr(first_meta, field):
                raise ValueError(
                    f"tables differ in {field} ({getattr(first_meta, field)!r} against "
                    f"{getattr(meta, field)!r}): their rows are not on the same pixels"
                )
    chosen: dict[tuple[str, str, str, str], BenchmarkRow] = {}
    for i, (meta, rows) in enumerate(tables):
        for row in rows:
            key = (row.scene, row.protocol, row_recipe(row), row.model)
            if row.model == reference:
                if i == 0:
                    chosen[key] = row
                continue
            if key in chosen and chosen[key].oa_mean >= row.oa_mean:
                continue
            marked = row if i == 0 else replace(row, model=f"{row.model} [{_budget(meta)}]")
            chosen[key] = marked
    return first_meta, list(chosen.values())


def _leakage(row: BenchmarkRow) -> str:
    return "-" if row.leakage is None else f"{row.leakage:.0%}"


def _ratio(numerator: int | None, denominator: int | None) -> str:
    if not numerator or not denominator:
        return "-"
    return f"{numerator / denominator:.1f}x"


def format_standings(found: Sequence[Standing], reference: str) -> str:
    """Markdown: one row per (table, scene, split[, recipe]), then one plain sentence per row."""
    recipes = any(s.recipe != PAPER for s in found)
    lines = [
        f"# Where `{reference}` wins and where it loses",
        "",
        f"One row per scene and split of each benchmark table. Leakage: the share of `{reference}`'s "
        "test patches that contain a training or validation pixel. Rank: by mean OA among the "
        "models of that table. Rival: the best other model by mean OA. Paired Δ: the rival's OA minus "
        f"`{reference}`'s on the same split and test pixels, seed by seed (mean ± std in points; "
        f"in brackets the seeds the rival won). Beats: other models whose paired mean is below "
        f"`{reference}`'s. FLOPs ratio: the rival's FLOPs per pixel over `{reference}`'s. "
        "Scenes named `-sim` are simulated."
        + (
            " Recipe: how every model of the row was trained (ranks and pairs are within it); "
            "SSL pool: the unlabelled pixels its semi-supervised part used (inductive: pixels "
            "without a label; transductive: every pixel not trained on, test labels never read)."
            if recipes
            else ""
        ),
        "",
        f"| scene | split{' | recipe | SSL pool' if recipes else ''} | leakage | seeds | budget "
        f"| `{reference}` OA % | rank | rival (OA %) | paired Δ rival | beats | FLOPs ratio "
        "| table |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|" + ("---|---|" if recipes else ""),
    ]
    for s in found:
        ref, rival = s.reference, s.rival
        kind = "simulated" if s.simulated else "real"
        rival_text = "-" if rival is None else f"{rival.model} ({rival.oa_mean * 100:.2f})"
        std = ref.oa_std if ref.oa_std is not None else float("nan")
        lines.append(
            f"| {s.scene} ({kind}) | `{s.protocol}`"
            f"{f' | {s.recipe} | {s.ssl_pool}' if recipes else ''} | {_leakage(ref)} "
            f"| {len(ref.seeds)} | {s.budget} "
            f"| {format_pm(ref.oa_mean, std)} "
            f"| {s.rank} of {s.n_models} | {rival_text} | {s.paired or '-'} "
            f"| {s.beaten} of {s.n_models - 1} "
            f"| {_ratio(rival.flops_per_pixel if rival else None, ref.flops_per_pixel)} "
            f"| {s.source} |"
        )
    lines += ["", "In words:", ""]
    lines += [f"- {_sentence(s, reference, recipes)}" for s in found]
    first = sum(s.rank == 1 for s in found)
    lines += [
        "",
        f"`{reference}` is first in {first} of the {len(found)} (table, scene, split"
        f"{', recipe' if recipes else ''}) rows above.",
    ]
    if recipes:
        for recipe in dict.fromkeys(s.recipe for s in found):
            mine = [s for s in found if s.recipe == recipe]
            level = sum(
                s.rank == 1 or (s.paired is not None and s.paired.mean <= s.paired.sem)
                for s in mine
            )
            lines.append(
                f"Under recipe `{recipe}`: first in {sum(s.rank == 1 for s in mine)} of "
                f"{len(mine)} rows, first or within one standard error of the best in {level}."
            )
    return "\n".join(lines) + "\n"


def _sentence(s: Standing, reference: str, recipes: bool = False) -> str:
    where = f"{s.scene} `{s.protocol}`"
    if recipes:
        where += f" (recipe `{s.recipe}`, SSL pool {s.ssl_pool})"
    if s.rival is None or s.runner_up_gap is None:
        return f"{where}: `{reference}` is the only model."
    rival = s.rival.model
    seeds = ""
    if s.paired is not None:
        seeds = f"; {rival} better on {s.paired.better}/{s.paired.n} seeds"
        if s.paired.n > 1 and abs(s.paired.mean) <= s.paired.sem:
            seeds += f" (a difference below its standard error over seeds, {s.paired.sem:.2f})"
    if sorted(s.rival.seeds) != sorted(s.reference.seeds):  # a partial table: unpaired means
        seeds += (
            f"; the means are over different seeds ({rival} {_seed_list(s.rival.seeds)}, "
            f"`{reference}` {_seed_list(s.reference.seeds)})"
        )
        if s.paired is not None:
            seeds += f", paired on the {s.paired.n} shared: {s.paired.mean:+.2f}"
    if s.rank == 1:
        return f"{where}: `{reference}` first, {s.runner_up_gap:.2f} points above {rival}{seeds}."
    return (
        f"{where}: `{reference}` {_ordinal(s.rank)} of {s.n_models}, "
        f"{-s.runner_up_gap:.2f} points below {rival}{seeds}."
    )


def _seed_list(seeds: Sequence[int]) -> str:
    word = "seed" if len(seeds) == 1 else "seeds"
    return f"{word} {', '.join(str(x) for x in sorted(seeds))}"


def _ordinal(n: int) -> str:
    return {1: "1st", 2: "2nd", 3: "3rd"}.get(n, f"{n}th")
