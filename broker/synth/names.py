"""A small hand-made Scottish name list, plus nicknames and spelling variants.

Faker's ``en_GB`` names lean English. So most names come from these lists, weighted roughly by how
common they are among Scottish children born 2007-2025 (approximate, from memory; not official counts).
Faker supplies the rest for variety. A few names carry diacritics so that name normalisation is
exercised.
"""

from __future__ import annotations

import itertools
import random

from faker import Faker

BOYS: tuple[tuple[str, int], ...] = (
    ("Jack", 30), ("Lewis", 25), ("James", 25), ("Oliver", 20), ("Noah", 18), ("Leo", 18),
    ("Harris", 14), ("Alexander", 16), ("Logan", 16), ("Lucas", 12), ("Jacob", 10), ("Rory", 14),
    ("Finlay", 14), ("Charlie", 12), ("Ethan", 12), ("Callum", 14), ("Daniel", 14), ("Ryan", 12),
    ("Cameron", 12), ("Kyle", 8), ("Liam", 10), ("Andrew", 10), ("Matthew", 12), ("Dylan", 10),
    ("Aaron", 8), ("Adam", 10), ("Thomas", 12), ("Max", 8), ("Archie", 12), ("Harry", 8),
    ("Luca", 6), ("Theo", 6), ("Arran", 4), ("Fraser", 8), ("Murray", 4), ("Struan", 2),
    ("Ruairidh", 3), ("Euan", 8), ("Hamish", 3), ("Alfie", 6), ("Blair", 3), ("Jamie", 10),
    ("Kai", 4), ("Mason", 6), ("Nathan", 8), ("Owen", 5), ("Robert", 8), ("Samuel", 8),
    ("Scott", 6), ("Tyler", 5), ("William", 12), ("Joseph", 8), ("Michael", 8), ("Connor", 8),
    ("Benjamin", 8), ("Brodie", 4), ("Evan", 5), ("Angus", 4), ("Ewan", 6), ("Innes", 2),
    ("Lachlan", 4), ("Ross", 5), ("Sean", 4), ("Mohammed", 5), ("Hamza", 2), ("Christopher", 6),
    ("David", 8), ("Peter", 3), ("Kenneth", 2), ("Calum", 5), ("Seumas", 1), ("Oisín", 1),
)  # fmt: skip
GIRLS: tuple[tuple[str, int], ...] = (
    ("Olivia", 25), ("Emily", 25), ("Isla", 25), ("Sophie", 20), ("Ava", 16), ("Amelia", 16),
    ("Freya", 16), ("Ella", 14), ("Grace", 14), ("Lucy", 14), ("Ellie", 14), ("Millie", 10),
    ("Lily", 12), ("Chloe", 10), ("Jessica", 10), ("Erin", 12), ("Eilidh", 8), ("Mia", 10),
    ("Emma", 10), ("Hannah", 8), ("Katie", 8), ("Rebecca", 6), ("Sophia", 6), ("Aria", 5),
    ("Evie", 8), ("Rosie", 6), ("Skye", 4), ("Harper", 4), ("Orla", 5), ("Niamh", 5),
    ("Caitlin", 6), ("Morven", 2), ("Kirsty", 3), ("Catriona", 2), ("Mhairi", 3), ("Iona", 3),
    ("Rachel", 4), ("Lauren", 5), ("Amy", 6), ("Megan", 6), ("Abbie", 5), ("Holly", 5),
    ("Layla", 5), ("Zara", 4), ("Maisie", 5), ("Poppy", 4), ("Charlotte", 8), ("Elizabeth", 5),
    ("Catherine", 4), ("Margaret", 2), ("Alexandra", 3), ("Victoria", 3), ("Jennifer", 3),
    ("Ailsa", 3), ("Eva", 6), ("Anna", 6), ("Sarah", 6), ("Leah", 6), ("Aisha", 2),
    ("Fatima", 2), ("Zoë", 3), ("Róisín", 2), ("Ciara", 3), ("Eleanor", 3), ("Esme", 3),
)  # fmt: skip
SURNAMES: tuple[tuple[str, int], ...] = (
    ("Smith", 40), ("Brown", 30), ("Wilson", 28), ("Campbell", 26), ("Stewart", 25),
    ("Thomson", 24), ("Robertson", 24), ("Anderson", 22), ("MacDonald", 14), ("McDonald", 12),
    ("Scott", 20), ("Reid", 18), ("Murray", 18), ("Taylor", 17), ("Clark", 16), ("Ross", 15),
    ("Watson", 15), ("Morrison", 15), ("Paterson", 14), ("Young", 14), ("Mitchell", 13),
    ("Walker", 13), ("Fraser", 13), ("Miller", 13), ("Gray", 12), ("Henderson", 12),
    ("Hamilton", 12), ("Johnston", 12), ("Duncan", 11), ("Graham", 11), ("Ferguson", 11),
    ("Kerr", 10), ("Davidson", 10), ("Bell", 10), ("Cameron", 10), ("Kelly", 10), ("Martin", 10),
    ("MacLeod", 7), ("McLeod", 6), ("Hunter", 9), ("Allan", 9), ("Grant", 9), ("Mackenzie", 6),
    ("McKenzie", 6), ("Black", 8), ("Simpson", 8), ("Wallace", 8), ("Sinclair", 7), ("Mackay", 6),
    ("McKay", 5), ("Gibson", 7), ("McLean", 6), ("MacLean", 5), ("Kennedy", 7), ("Wood", 6),
    ("Russell", 6), ("Marshall", 6), ("Gordon", 6), ("Burns", 6), ("Baird", 5), ("Docherty", 6),
    ("O'Neill", 5), ("McIntyre", 4), ("MacIntyre", 3), ("McGregor", 5), ("Munro", 5),
    ("Sutherland", 5), ("Crawford", 5), ("Boyle", 5), ("Reilly", 4), ("Murphy", 5), ("Quinn", 4),
    ("Hughes", 5), ("Ali", 4), ("Khan", 4), ("Ahmed", 3), ("Singh", 3), ("O'Donnell", 3),
    ("McAllister", 3), ("MacAulay", 2), ("McPhee", 2), ("Nicolson", 2), ("Gillies", 2),
)  # fmt: skip

# Nicknames and alternative spellings a record may carry instead of the registered forename.
VARIANTS: dict[str, tuple[str, ...]] = {
    "Alexander": ("Alex", "Sandy", "Alec", "Xander"),
    "James": ("Jamie", "Jim", "Seumas"),
    "Catherine": ("Katie", "Cathy", "Kate"),
    "Elizabeth": ("Beth", "Lizzie", "Libby"),
    "Margaret": ("Maggie", "Peggy"),
    "Christopher": ("Chris",),
    "Daniel": ("Danny", "Dan"),
    "Matthew": ("Matt",),
    "Thomas": ("Tom", "Tommy"),
    "William": ("Will", "Billy", "Liam"),
    "Robert": ("Rab", "Rob", "Robbie"),
    "Andrew": ("Andy", "Drew"),
    "Michael": ("Mike", "Mikey"),
    "Joseph": ("Joe",),
    "Samuel": ("Sam",),
    "Benjamin": ("Ben",),
    "Charlotte": ("Charlie", "Lottie"),
    "Alexandra": ("Alex", "Lexi"),
    "Jennifer": ("Jenny", "Jen"),
    "Rebecca": ("Becky",),
    "Kenneth": ("Kenny",),
    "David": ("Davie", "Dave"),
    "Peter": ("Pete",),
    "Victoria": ("Vicky", "Tori"),
    "Jessica": ("Jess",),
    "Eleanor": ("Ellie", "Nell"),
    "Callum": ("Calum",),
    "Calum": ("Callum",),
    "Ruairidh": ("Ruaridh", "Rory"),
    "Euan": ("Ewan",),
    "Ewan": ("Euan",),
    "Abbie": ("Abby", "Abigail"),
    "Zoë": ("Zoe",),
    "Róisín": ("Roisin",),
    "Mhairi": ("Mhari",),
    "Mohammed": ("Muhammad", "Mohammad"),
}


class NamePicker:
    """Draws forenames and surnames: the Scottish lists most of the time, Faker ``en_GB`` otherwise."""

    def __init__(self, rng: random.Random, fake: Faker, faker_share: float = 0.2) -> None:
        self._rng = rng
        self._fake = fake
        self._faker_share = faker_share
        self._boys = _split(BOYS)
        self._girls = _split(GIRLS)
        self._surnames = _split(SURNAMES)

    def forename(self, sex: str) -> str:
        if self._rng.random() < self._faker_share:
            return str(self._fake.first_name_male() if sex == "M" else self._fake.first_name_female())
        names, weights = self._boys if sex == "M" else self._girls
        return self._rng.choices(names, cum_weights=weights)[0]

    def surname(self) -> str:
        if self._rng.random() < self._faker_share:
            return str(self._fake.last_name())
        names, weights = self._surnames
        return self._rng.choices(names, cum_weights=weights)[0]


def _split(table: tuple[tuple[str, int], ...]) -> tuple[list[str], list[int]]:
    """Names and cumulative weights, for ``random.choices(cum_weights=...)``."""
    return [name for name, _ in table], list(itertools.accumulate(weight for _, weight in table))
