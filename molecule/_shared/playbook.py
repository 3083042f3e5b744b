"""One ansible-playbook run as the Molecule suites read it: exit code, output, and each host's PLAY RECAP.

Every suite that runs a playbook itself (the go_proxy scenarios, site, ci_agent) reads the counters here, so
there is one parser of the recap.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field


def parse_recap(output: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP counters per host: {'buildfleet-trixie': {'ok': 23, 'changed': 0, ...}}."""
    return {
        host: {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", counters)}
        for host, counters in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", output, re.MULTILINE)
    }


@dataclass
class PlaybookRun:
    """The outcome of one ansible-playbook run."""

    rc: int
    output: str
    recap: dict[str, dict[str, int]] = field(init=False)

    def __post_init__(self):
        self.recap = parse_recap(self.output)

    @property
    def text(self) -> str:
        """The output with every run of whitespace made one space (messages wrap in the YAML callback)."""
        return " ".join(self.output.split())

    def recap_lines(self) -> list[str]:
        return [line.rstrip() for line in self.output.split("PLAY RECAP", 1)[-1].splitlines()
                if re.match(r"^\S+\s+:\s+ok=", line)]
