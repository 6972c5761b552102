"""The allocation kernel: properties on random instances, references written the slow and
obvious way, and the ``matching`` library as an oracle for deferred acceptance."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matching.games import HospitalResident

from luodi.kernels.allocation import (
    Method,
    deferred_acceptance,
    lottery_number,
    lottery_numbers,
)
from luodi.kernels.allocation.frames import allocate, choice_matrix
from luodi.kernels.allocation.ranking import dense_groups


@dataclass(frozen=True)
class Instance:
    ids: list[str]
    points: list[float]
    groups: list[int]
    choices: list[list[str]]
    capacity: dict[str, int]
    overrides: dict[tuple[str, str], int]
    seed: str

    def applicants(self) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "applicant_id": self.ids,
                "points": self.points,
                "priority_group": self.groups,
                "choices": pl.Series(self.choices, dtype=pl.List(pl.String)),
            }
        )

    def capacities(self) -> pl.DataFrame:
        return pl.DataFrame(
            {"target_id": list(self.capacity), "capacity": list(self.capacity.values())},
            schema={"target_id": pl.String, "capacity": pl.Int64},
        )

    def override_frame(self) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "applicant_id": [a for a, _ in self.overrides],
                "target_id": [t for _, t in self.overrides],
                "priority_group": list(self.overrides.values()),
            },
            schema={"applicant_id": pl.String, "target_id": pl.String, "priority_group": pl.Int64},
        )

    def priority(self, index: int, target: str) -> tuple[int, float, int]:
        """The contract's order at a target, computed directly: smaller tuple is better."""
        applicant = self.ids[index]
        group = self.overrides.get((applicant, target), self.groups[index])
        digest = hashlib.sha256(f"{self.seed}:{applicant}".encode()).digest()
        return (group, -self.points[index], int.from_bytes(digest[:8], "big"))

    def run(self, method: Method) -> dict[str, str | None]:
        overrides = None if method is Method.SERIAL_DICTATORSHIP else self.override_frame()
        frame = allocate(method, self.applicants(), self.capacities(), self.seed, overrides).frame
        assert frame["applicant_id"].to_list() == self.ids, "one row per applicant, in order"
        return dict(zip(frame["applicant_id"], frame["target_id"], strict=True))


@st.composite
def instances(draw: st.DrawFn, single_choice: bool = False) -> Instance:
    targets = [f"T{index}" for index in range(draw(st.integers(1, 6)))]
    count = draw(st.integers(0, 30))
    ids = [f"A{index}" for index in draw(st.permutations(range(count)))]
    choices = [
        draw(
            st.lists(
                st.sampled_from(targets),
                unique=True,
                max_size=1 if single_choice else min(5, len(targets)),
            )
        )
        for _ in ids
    ]
    overrides = {
        (ids[index], target): draw(st.integers(0, 2))
        for index in range(count)
        for target in choices[index]
        if draw(st.booleans()) and draw(st.booleans())
    }
    return Instance(
        ids=ids,
        # Few distinct values, so that ties (and the lottery) matter.
        points=[float(draw(st.integers(0, 4))) for _ in ids],
        groups=[draw(st.integers(0, 2)) for _ in ids],
        choices=choices,
        capacity={target: draw(st.integers(0, 4)) for target in targets},
        overrides=overrides,
        seed=draw(st.text(min_size=0, max_size=8)),
    )


def assert_feasible(instance: Instance, result: dict[str, str | None]) -> None:
    for target, seats in instance.capacity.items():
        assert sum(placed == target for placed in result.values()) <= seats, target
    for index, applicant in enumerate(instance.ids):
        if result[applicant] is not None:
            assert result[applicant] in instance.choices[index]


def assert_stable(instance: Instance, result: dict[str, str | None]) -> None:
    """No justified envy and no wasted seat: whoever prefers a target to their own place
    finds it full of applicants it ranks higher."""
    admitted: dict[str, list[int]] = {target: [] for target in instance.capacity}
    for index, applicant in enumerate(instance.ids):
        if result[applicant] is not None:
            admitted[result[applicant]].append(index)
    for index, applicant in enumerate(instance.ids):
        wanted = instance.choices[index]
        better = wanted if result[applicant] is None else wanted[: wanted.index(result[applicant])]
        for target in better:
            holders = admitted[target]
            assert len(holders) == instance.capacity[target], (applicant, target, "wasted seat")
            mine = instance.priority(index, target)
            assert all(instance.priority(other, target) < mine for other in holders), (
                applicant,
                target,
                "justified envy",
            )


@settings(max_examples=300, deadline=None)
@given(instances())
def test_deferred_acceptance_is_feasible_and_stable(instance: Instance) -> None:
    result = instance.run(Method.DEFERRED_ACCEPTANCE)
    assert_feasible(instance, result)
    assert_stable(instance, result)


@settings(max_examples=200, deadline=None)
@given(instances())
def test_deferred_acceptance_equals_the_matching_library(instance: Instance) -> None:
    """The resident-optimal stable matching of ``matching`` (an independent implementation)."""
    ours = instance.run(Method.DEFERRED_ACCEPTANCE)
    resident_prefs = {a: list(c) for a, c in zip(instance.ids, instance.choices, strict=True) if c}
    hospital_prefs = {
        target: sorted(
            (a for a, c in zip(instance.ids, instance.choices, strict=True) if target in c),
            key=lambda a: instance.priority(instance.ids.index(a), target),
        )
        for target in instance.capacity
    }
    # The library wants every listed hospital to be ranked by someone and to have a seat.
    hospital_prefs = {t: p for t, p in hospital_prefs.items() if p and instance.capacity[t] > 0}
    resident_prefs = {
        a: [t for t in prefs if t in hospital_prefs] for a, prefs in resident_prefs.items()
    }
    resident_prefs = {a: prefs for a, prefs in resident_prefs.items() if prefs}
    expected: dict[str, str | None] = dict.fromkeys(instance.ids)
    if resident_prefs:
        game = HospitalResident.create_from_dictionaries(
            resident_prefs, hospital_prefs, {t: instance.capacity[t] for t in hospital_prefs}
        )
        for hospital, residents in game.solve(optimal="resident").items():
            for resident in residents:
                expected[resident.name] = hospital.name
    assert ours == expected


@settings(max_examples=200, deadline=None)
@given(instances())
def test_serial_dictatorship_lets_each_choose_in_rank_order(instance: Instance) -> None:
    result = instance.run(Method.SERIAL_DICTATORSHIP)
    assert_feasible(instance, result)
    # Reference: sort by (own group, points, lottery); each takes their best remaining seat.
    left = dict(instance.capacity)
    order = sorted(range(len(instance.ids)), key=lambda i: instance.priority(i, ""))
    expected: dict[str, str | None] = dict.fromkeys(instance.ids)
    for index in order:
        for target in instance.choices[index]:
            if left[target] > 0:
                left[target] -= 1
                expected[instance.ids[index]] = target
                break
    assert result == expected


@settings(max_examples=200, deadline=None)
@given(instances(single_choice=True))
def test_ranked_quota_fills_each_target_in_rank_order(instance: Instance) -> None:
    result = instance.run(Method.RANKED_QUOTA)
    assert_feasible(instance, result)
    for target, seats in instance.capacity.items():
        asking = [i for i, c in enumerate(instance.choices) if c == [target]]
        asking.sort(key=lambda i: instance.priority(i, target))
        placed = {instance.ids[i] for i in asking[:seats]}
        assert {a for a in instance.ids if result[a] == target} == placed


@settings(max_examples=50, deadline=None)
@given(instances(), st.sampled_from(list(Method)))
def test_same_seed_same_result(instance: Instance, method: Method) -> None:
    if method is Method.RANKED_QUOTA:
        instance = Instance(**{**instance.__dict__, "choices": [c[:1] for c in instance.choices]})
    first = allocate(method, instance.applicants(), instance.capacities(), instance.seed).frame
    again = allocate(method, instance.applicants(), instance.capacities(), instance.seed).frame
    assert first.equals(again)


def test_lottery_is_sha256_of_seed_and_id_first_8_bytes_big_endian() -> None:
    digest = hashlib.sha256("2026:新A001".encode()).digest()
    assert lottery_number(2026, "新A001") == int.from_bytes(digest[:8], "big")
    assert lottery_numbers("2026", ["新A001", "x"]).tolist() == [
        lottery_number("2026", "新A001"),
        lottery_number("2026", "x"),
    ]


def test_lottery_breaks_a_tie_in_points_and_group() -> None:
    ids = [f"p{index}" for index in range(10)]
    applicants = pl.DataFrame(
        {"applicant_id": ids, "points": [50.0] * 10, "priority_group": [0] * 10,
         "choices": [["S"]] * 10}
    )  # fmt: skip
    capacities = pl.DataFrame({"target_id": ["S"], "capacity": [3]})
    frame = allocate(Method.RANKED_QUOTA, applicants, capacities, "seed-1").frame
    winners = set(frame.filter(pl.col("target_id") == "S")["applicant_id"])
    by_draw = sorted(ids, key=lambda a: lottery_number("seed-1", a))
    assert winners == set(by_draw[:3])


def test_a_target_override_puts_its_own_town_first() -> None:
    applicants = pl.DataFrame(
        {"applicant_id": ["far", "near"], "points": [99.0, 10.0], "priority_group": [0, 0],
         "choices": [["S"], ["S"]]}
    )  # fmt: skip
    capacities = pl.DataFrame({"target_id": ["S"], "capacity": [1]})
    overrides = pl.DataFrame({"applicant_id": ["far"], "target_id": ["S"], "priority_group": [1]})
    for method in (Method.DEFERRED_ACCEPTANCE, Method.RANKED_QUOTA):
        plain = allocate(method, applicants, capacities, 1).frame
        assert plain.filter(pl.col("target_id") == "S")["applicant_id"].to_list() == ["far"]
        scoped = allocate(method, applicants, capacities, 1, overrides).frame
        assert scoped.filter(pl.col("target_id") == "S")["applicant_id"].to_list() == ["near"]


def test_ranked_quota_refuses_several_choices() -> None:
    applicants = pl.DataFrame(
        {"applicant_id": ["a"], "points": [1.0], "priority_group": [0], "choices": [["S", "T"]]}
    )
    capacities = pl.DataFrame({"target_id": ["S", "T"], "capacity": [1, 1]})
    with pytest.raises(ValueError, match="one target"):
        allocate(Method.RANKED_QUOTA, applicants, capacities, 1)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=8) | st.integers(), st.lists(st.text(max_size=12), max_size=20))
def test_lottery_numbers_are_each_applicants_lottery_number(
    seed: str | int, ids: list[str]
) -> None:
    """The vector form (digests joined, read by NumPy) draws what the contract's scalar
    form draws, for any seed and id (empty, Chinese, any length)."""
    drawn = lottery_numbers(seed, ids)
    assert drawn.dtype == np.uint64
    assert drawn.tolist() == [lottery_number(seed, applicant) for applicant in ids]


@given(
    st.lists(st.integers(-3, 3), min_size=1, max_size=30)
    | st.lists(st.integers(-(2**62), 2**62), min_size=1, max_size=30)
)
def test_dense_groups_keep_the_order_of_any_group_numbers(groups: list[int]) -> None:
    """The table (a few nearby numbers) and the sort (numbers far apart) both renumber as
    ``np.unique`` does."""
    matrix = np.array(groups, dtype=np.int64).reshape(1, -1)
    _, expected = np.unique(matrix, return_inverse=True)
    assert dense_groups(matrix).tolist() == expected.reshape(matrix.shape).tolist()


@settings(max_examples=100, deadline=None)
@given(instances())
def test_deferred_acceptance_is_the_same_with_priorities_too_large_to_pack(
    instance: Instance,
) -> None:
    """Priorities whose product with the targets and cells overflows one int64 key are sorted
    by two keys instead: the same order, so the same matching."""
    applicants = instance.applicants()
    choices, _ = choice_matrix(applicants["choices"], instance.capacities()["target_id"])
    count, length = choices.shape
    priority = np.arange(count, dtype=np.int64)[:, None].repeat(length, axis=1)
    capacity = np.array(list(instance.capacity.values()), dtype=np.int64)
    packed = deferred_acceptance(choices, priority, capacity)
    # Spread over the whole int64 range: (target, priority, cell) no longer fit in one.
    spread = deferred_acceptance(
        choices, priority * (np.iinfo(np.int64).max // max(count, 1)), capacity
    )
    assert packed.held.tolist() == spread.held.tolist()
    assert packed.rounds == spread.rounds


def test_a_null_in_a_list_of_choices_is_no_choice() -> None:
    """Positions count the choices given: a null among them takes no place, an empty or
    missing list gives a row of padding."""
    choices = pl.Series([["T1", None, "T2"], [], None, [None, "T2"]], dtype=pl.List(pl.String))
    matrix, exploded = choice_matrix(choices, pl.Series(["T2", "T1"]))
    assert matrix.tolist() == [[1, 0], [-1, -1], [-1, -1], [0, -1]]
    assert exploded.select("row", "position", "target_id").sort("row", "position").rows() == [
        (0, 0, "T1"),
        (0, 1, "T2"),
        (3, 0, "T2"),
    ]


def test_a_target_without_seats_places_nobody_and_sends_everyone_on() -> None:
    choices = np.array([[0, 1], [0, 1], [0, -1]], dtype=np.int64)
    priority = np.array([[0, 0], [1, 1], [2, 2]], dtype=np.int64)
    for seats in (0, -1):
        matching = deferred_acceptance(choices, priority, np.array([seats, 1], dtype=np.int64))
        assert matching.target.tolist() == [1, -1, -1]
        assert matching.held.tolist() == [1, -1, -1]
