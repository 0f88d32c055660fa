"""Personal data to plant in comments: values that pass their checks (masked) and look-alikes that fail them (kept)."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class PlantedData:
    """Personal data planted in one comment (masked), and look-alikes that fail their check (kept)."""

    email: str
    phone: str
    iban: str
    bsn: str
    not_an_iban: str
    not_a_bsn: str

    @classmethod
    def draw(cls, rng: random.Random) -> PlantedData:
        bban = "ABNA" + "".join(rng.choice("0123456789") for _ in range(10))
        check = 98 - int("".join(str(int(ch, 36)) for ch in bban + "NL00")) % 97
        iban = f"NL{check:02d}{bban}"
        while True:
            digits = [rng.randrange(10) for _ in range(8)]
            last = sum(w * d for w, d in zip(range(9, 1, -1), digits, strict=True)) % 11
            if last < 10:
                break
        bsn = "".join(map(str, digits)) + str(last)
        return cls(
            email=f"zq7.{rng.getrandbits(64):x}@example.nl",
            phone=f"06 {rng.randrange(10**8):08d}",
            iban=" ".join(iban[i : i + 4] for i in range(0, len(iban), 4)),
            bsn=f"{bsn[:3]}.{bsn[3:6]}.{bsn[6:]}",
            not_an_iban=f"NL{(check + 1) % 100:02d}{bban}",
            not_a_bsn=f"{bsn[:3]}.{bsn[3:6]}.{bsn[6:8]}{(last + 1) % 10}",
        )

    def comment(self, marker: str) -> str:
        """A comment with ``marker`` (to find it again), every planted value and both look-alikes."""
        return (
            f"{marker} mail {self.email} of bel {self.phone}, IBAN {self.iban}, "
            f"BSN {self.bsn}; order {self.not_an_iban} klant {self.not_a_bsn}"
        )

    @property
    def masked_values(self) -> tuple[str, ...]:
        return (self.email, self.phone, self.iban, self.bsn)
