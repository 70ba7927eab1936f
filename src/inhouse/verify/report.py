"""What a verdict records: `ClaimVerdict`, and the reasons the rules give for refusing a claim.

Every decision is recorded with its reason (ragas-style verdicts), so a refused claim says which rule refused it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ClaimVerdict:
    text: str
    verdict: str  # "supported" | "unsupported"
    score: float
    cited: list[int]  # source numbers the model cited
    sources: list[int]  # source numbers kept after repair (supporting ones)
    reason: str
    kept: bool = False
    chunk_ids: list[int] = field(default_factory=list)
    evidence: str = ""  # the source sentence (or pair) that supports it best

    def to_json(self) -> dict:
        return {"text": self.text, "verdict": self.verdict, "kept": self.kept, "score": round(self.score, 3),
                "chunk_ids": self.chunk_ids, "reason": self.reason}


# Reasons a claim is refused for its question (checked before its sources: see `verify` and `support`).
NO_ANSWER = "restates the question without an answer"
NO_NUMBER = "the question asks for a number and the claim states none"
NO_UNIT = "the question asks for a number in a unit the claim does not state it in"
# Reasons a claim's best source sentence does not support it.
OFF_QUESTION = "off the question"
WRONG_PART = "the source gives this number for something the claim and the question do not name"
NO_PREDICATE = "a yes/no answer needs a source sentence that says what it says, not a heading or another predicate"
UNNAMED = "restates a name of the question that its source does not mention"
UNMENTIONED = "restates words of the question that its source does not mention"
NOT_ASKED = "its source sentence says nothing of what the question asks (the question's predicate)"
