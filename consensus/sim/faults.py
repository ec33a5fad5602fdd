"""The fault DSL: network rules, partitions, crashes and Byzantine roles, as data.

Text form (one directive per line, ``#`` comments; times in virtual ms; node sets like
``1,2`` or ``*``; node i holds the i-th smallest key, so at the genesis set the primary
of (height, view) is node (height + view) % n; message types: pre_prepare prepare commit view_change new_view status
blocks)::

    drop      from=* to=2 type=prepare pct=50 at=0 until=3000
    drop      to=1,2,3 type=commit height=3 view=0   # only messages of (height 3, view 0)
    delay     from=0 to=* ms=200..400 at=0 until=5000
    duplicate pct=10
    reorder   ms=0..300 pct=30
    partition 0,1|2,3 at=1000 until=4000
    crash 2 at=500 restart=2500
    crash_on_persist 2 type=commit nth=1 restart=3000
    crash_on_commit 0 height=3 restart=9000   # right after committing height 3
    crash 0 at=700 restart=900 tear=1 # ... and the WAL loses its last record (a torn tail)
    byzantine 1,4 equivocate          # or double_vote forge nosig silent selective
                                      # invalid=digest|parent|height  censor tx=5  flood
                                      # tamper_view_change flood_forged
    timeout 3 base=100                # per-node base timeout override (lone complainer)
"""

from __future__ import annotations

from dataclasses import dataclass, field

INF = 2**62
MESSAGE_TYPES = frozenset(
    {"pre_prepare", "prepare", "commit", "view_change", "new_view", "status", "blocks"}
)


class FaultSyntaxError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Rule:
    """One network rule; applies to a message when all its filters match."""

    kind: str  # drop | delay | duplicate | reorder
    src: frozenset[int] | None = None
    dst: frozenset[int] | None = None
    types: frozenset[str] | None = None
    pct: int = 100
    start: int = 0
    end: int = INF
    lo: int = 0
    hi: int = 0
    height: int = -1  # only messages of this height (-1: any)
    view: int = -1  # only messages of this view (-1: any)

    def matches(
        self, src: int, dst: int, mtype: str, now: int, height: int = -1, view: int = -1
    ) -> bool:
        return (
            self.start <= now < self.end
            and (self.height < 0 or self.height == height)
            and (self.view < 0 or self.view == view)
            and (self.src is None or src in self.src)
            and (self.dst is None or dst in self.dst)
            and (self.types is None or mtype in self.types)
        )


@dataclass(frozen=True, slots=True)
class Partition:
    groups: tuple[frozenset[int], ...]
    start: int
    end: int

    def splits(self, a: int, b: int, now: int) -> bool:
        if not self.start <= now < self.end:
            return False
        ga = next((i for i, g in enumerate(self.groups) if a in g), -1)
        gb = next((i for i, g in enumerate(self.groups) if b in g), -2)
        return ga != gb


@dataclass(frozen=True, slots=True)
class Crash:
    node: int
    at: int = 0
    restart: int | None = None
    on_persist: str | None = None  # crash right after persisting this message type
    nth: int = 1
    on_commit: int = -1  # crash right after committing this height
    tear: int = 0  # the WAL loses this many of its last records in the crash (a torn tail)


@dataclass(frozen=True, slots=True)
class Byzantine:
    node: int
    behaviour: str
    arg: str = ""


@dataclass
class FaultPlan:
    rules: list[Rule] = field(default_factory=list)
    partitions: list[Partition] = field(default_factory=list)
    crashes: list[Crash] = field(default_factory=list)
    byzantine: list[Byzantine] = field(default_factory=list)
    timeouts: dict[int, int] = field(default_factory=dict)

    def heal_time(self) -> int:
        """When the last transient fault ends (Byzantine roles are permanent, not faults)."""
        ends = [0]
        ends += [r.end for r in self.rules if r.end < INF]
        ends += [p.end for p in self.partitions]
        for c in self.crashes:  # a crash without restart is permanent, like a Byzantine role
            ends.append(c.restart if c.restart is not None else c.at)
        return max(ends)

    def byzantine_nodes(self) -> set[int]:
        return {b.node for b in self.byzantine}


def _nodes(text: str) -> frozenset[int] | None:
    if text == "*":
        return None
    try:
        return frozenset(int(x) for x in text.split(",") if x)
    except ValueError:
        raise FaultSyntaxError(f"bad node set {text!r}") from None


def _range(text: str) -> tuple[int, int]:
    lo, _, hi = text.partition("..")
    return int(lo), int(hi or lo)


# long: the fault DSL's parser, one branch per directive
def parse_plan(
    text: str,
) -> tuple[FaultPlan, dict[str, str]]:
    """Parse the DSL; returns the plan and the non-fault header settings (n, seed, ...)."""
    plan = FaultPlan()
    header: dict[str, str] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        word, *rest = line.split()
        pos = [r for r in rest if "=" not in r]
        kw = dict(r.split("=", 1) for r in rest if "=" in r)
        try:
            if word in ("drop", "delay", "duplicate", "reorder"):
                types = None
                if "type" in kw:
                    types = frozenset(kw["type"].split(","))
                    if not types <= MESSAGE_TYPES:
                        raise FaultSyntaxError(f"unknown message type in {kw['type']!r}")
                lo, hi = _range(kw.get("ms", "0"))
                plan.rules.append(
                    Rule(
                        word,
                        _nodes(kw.get("from", "*")),
                        _nodes(kw.get("to", "*")),
                        types,
                        int(kw.get("pct", "100")),
                        int(kw.get("at", "0")),
                        int(kw.get("until", str(INF))),
                        lo,
                        hi,
                        int(kw.get("height", "-1")),
                        int(kw.get("view", "-1")),
                    )
                )
            elif word == "partition":
                groups = tuple(frozenset(int(x) for x in g.split(",")) for g in pos[0].split("|"))
                plan.partitions.append(
                    Partition(groups, int(kw.get("at", "0")), int(kw.get("until", str(INF))))
                )
            elif word in ("crash", "crash_on_persist", "crash_on_commit"):
                restart = int(kw["restart"]) if "restart" in kw else None
                for node in sorted(_nodes(pos[0]) or ()):
                    plan.crashes.append(
                        Crash(
                            node,
                            int(kw.get("at", "0")),
                            restart,
                            kw.get("type") if word == "crash_on_persist" else None,
                            int(kw.get("nth", "1")),
                            int(kw.get("height", "-1")) if word == "crash_on_commit" else -1,
                            int(kw.get("tear", "0")),
                        )
                    )
            elif word == "byzantine":
                behaviour = pos[1]
                arg = ""
                if behaviour == "invalid":
                    arg = kw.get("field", "digest")
                if behaviour == "censor":
                    arg = kw.get("tx", "0")
                for node in _nodes(pos[0]) or ():
                    plan.byzantine.append(Byzantine(node, behaviour, arg))
            elif word == "timeout":
                plan.timeouts[int(pos[0])] = int(kw["base"])
            else:
                header[word] = " ".join(rest)
        except (IndexError, KeyError, ValueError) as exc:
            raise FaultSyntaxError(f"line {lineno}: {raw.strip()!r}: {exc}") from None
    return plan, header
