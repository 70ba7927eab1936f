"""PII policies: what ingest does with personal data, and what a reader is shown.

At ingest (per call, so per tenant or collection): `keep` stores text as it is, `mask` replaces each
piece of PII by its type (`[PHONE]`), `tokenize` by a reversible per-tenant token (`[PHONE:7KQ2M4XD9A]`,
see vault.py), `reject` refuses a file that contains any PII (the ingest report names the file and what
was found; the other files land).

At output: a reader without PII clearance always sees masked text (`for_reader`), whatever the ingest
policy was; a cleared reader sees tokens revealed from the vault. Logs and audit records use `mask`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace as dc_replace

from inhouse.errors import InputError
from inhouse.guard.pii import TYPES, detect, mask
from inhouse.guard.vault import TOKEN, Vault, mask_tokens
from inhouse.types import Block, Principal

POLICIES = ("keep", "mask", "tokenize", "reject")
CLEARANCE_GROUP = "pii"  # members of this access group are cleared to see PII (tokens revealed)


def check_policy(policy: str) -> str:
    if policy not in POLICIES:
        raise InputError(f"unknown PII policy '{policy}'; choose one of: {', '.join(POLICIES)}.")
    return policy


def apply_to_blocks(blocks: list[Block], policy: str, tenant: str, name: str, vault: Vault | None = None
                    ) -> list[Block]:
    """The blocks of one file under `policy`; offsets (`start`) recomputed for the changed texts.

    Raises InputError naming the file and the PII found when the policy is `reject`.
    """
    check_policy(policy)
    if policy == "keep":
        return blocks
    if policy == "reject":
        found: Counter[str] = Counter()
        for b in blocks:
            found.update(m.type for m in detect(b.text))
        if found:
            what = ", ".join(f"{t} {found[t]}" for t in TYPES if found[t])
            raise InputError(f"{name}: contains personal data ({what}) and the PII policy is 'reject'; "
                             "remove it from the file, or ingest with --pii mask or --pii tokenize.")
        return blocks
    out: list[Block] = []
    pos = 0
    for b in blocks:
        text = apply_to_text(b.text, policy, tenant, vault)
        headings = tuple(apply_to_text(h, policy, tenant, vault) for h in b.heading_path)
        out.append(dc_replace(b, text=text, start=pos, heading_path=headings))
        pos += len(text) + 2  # blocks are joined by a blank line
    return out


def apply_to_text(text: str, policy: str, tenant: str, vault: Vault | None = None) -> str:
    """One text (a title, a heading) under the mask or tokenize policy; unchanged for keep and reject."""
    if policy == "mask":
        return mask(text)
    if policy == "tokenize":
        if vault is None:
            raise InputError("the 'tokenize' PII policy needs the vault; open one with inhouse.guard.vault.Vault().")
        return vault.tokenize(tenant, text)
    return text


def cleared(principal: Principal) -> bool:
    """Whether `principal` may see PII (member of the `pii` group)."""
    return CLEARANCE_GROUP in principal.groups


def for_reader(text: str, principal: Principal, vault: Vault | None = None) -> str:
    """`text` as `principal` may see it: masked for uncleared readers; tokens revealed for cleared ones."""
    if not cleared(principal):
        return mask(mask_tokens(text))
    if not TOKEN.search(text):
        return text
    if vault is not None:
        return vault.reveal(principal.tenant, text)
    own = Vault()
    try:
        return own.reveal(principal.tenant, text)
    finally:
        own.close()
