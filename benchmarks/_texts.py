"""Realistic, varied memory texts and queries generated from word lists (deterministic).

Sentences look like what agents store about users ("Maya's brother lives in Porto and
works as a nurse."), many templates, hundreds of names, places, foods, hobbies and
topics, plus numbers, so duplicates are rare. Queries are questions built from the same
vocabulary, never copies of stored texts.
"""

# ruff: noqa: SIM905  (word lists read better as split strings)
from __future__ import annotations

from collections.abc import Iterator

import numpy as np

NAMES = """Maya Liam Olivia Noah Emma Lucas Ava Ethan Sophia Mason Isabella Logan Mia James Amelia
Benjamin Harper Elijah Evelyn Oliver Abigail Jacob Emily Aiden Ella Carter Chloe Daniel
Grace Henry Lily Jack Zoe Leo Nora Owen Ruby Ryan Stella Samuel Violet Wyatt Aria
Gabriel Layla Julian Hazel Isaac Aurora Levi Penelope Mateo Luna Nathan Ivy Caleb Alice
Hugo Ines Tomas Yuki Kenji Priya Arjun Fatima Omar Chen Mei Diego Sofia Pablo Lucia
Ahmed Leila Sven Astrid Mikael Freya Dmitri Anya Kofi Amara Tariq Zara Marco Giulia
Pierre Camille Hans Greta Nikos Eleni Raj Ananya Kwame Adaeze Jonas Elsa Felix Clara
Rafael Beatriz Ivan Olga Hamid Noor Tariku Selam Paolo Chiara Bram Femke Lars Ingrid
Tobias Marta Kai Nia""".split()
RELATIONS = """sister brother mother father daughter son wife husband partner friend manager
colleague neighbour cousin grandmother grandfather roommate aunt uncle niece nephew boss mentor
teammate landlord""".split()
CITIES = """Paris London Berlin Madrid Lisbon Porto Rome Milan Vienna Prague Warsaw Oslo Stockholm
Helsinki Copenhagen Dublin Edinburgh Amsterdam Brussels Zurich Geneva Athens Istanbul
Cairo Nairobi Lagos Accra Dubai Mumbai Delhi Bangalore Singapore Bangkok Hanoi Tokyo
Osaka Seoul Beijing Shanghai Sydney Melbourne Auckland Toronto Montreal Vancouver Boston
Chicago Denver Austin Seattle Portland Miami Atlanta Lima Bogota Santiago Quito""".split()
JOBS = """nurse teacher engineer architect pilot chef lawyer accountant designer dentist
pharmacist journalist photographer carpenter electrician plumber librarian firefighter
veterinarian scientist programmer translator baker barista musician surgeon economist
consultant gardener mechanic""".split()
FOODS = """sushi ramen pizza pasta tacos curry dumplings pho paella risotto falafel hummus salad
burgers pancakes waffles croissants bagels oatmeal granola yogurt steak salmon tofu
lentils noodles kimchi bibimbap burritos lasagna gnocchi couscous shakshuka omelettes
porridge sandwiches soup chili empanadas ceviche""".split()
DRINKS = """green-tea black-tea espresso latte cappuccino matcha chai lemonade orange-juice
sparkling-water kombucha smoothies hot-chocolate mint-tea oat-milk cold-brew""".split()
HOBBIES = """chess painting running cycling swimming climbing yoga pottery knitting gardening
photography guitar piano violin drums singing dancing hiking skiing surfing tennis
badminton football basketball baking woodworking calligraphy birdwatching astronomy
origami sailing rowing fencing archery boxing judo karate meditation""".split()
TOPICS = """budget review| product launch| quarterly report| hiring plan| marketing campaign|
database migration| security audit| office move| tax return| wedding plans| kitchen
renovation| holiday schedule| board meeting| client pitch| insurance claim| conference
talk| research proposal| mortgage application| school enrolment| car repair| garden
redesign| team offsite| code review| website redesign| sales forecast| grant
application| supplier contract| training course| charity run| book club""".replace(
    "\n", " ").split("|")
TIMES = """in the morning|on weekends|every Tuesday|after work|before bed|during lunch|on
Friday evenings|on Sunday mornings|twice a week|every day|when it rains|on holidays|at
night|after the gym|on Monday mornings|once a month""".replace("\n", " ").split("|")
DAYS = """on Monday|on Tuesday|on Wednesday|on Thursday|on Friday|on Saturday|next
week|tomorrow|this afternoon|at the end of the month|next Monday|in two weeks""".replace(
    "\n", " ").split("|")
MONTHS = """January February March April May June July August September October November
December""".split()
ALLERGENS = """peanuts shellfish gluten lactose pollen cats dogs penicillin eggs soy sesame
strawberries latex dust""".split()
PETS = """dog cat parrot rabbit hamster tortoise goldfish horse ferret iguana""".split()
PET_NAMES = """Biscuit Pepper Luna Milo Coco Rocky Bella Charlie Max Daisy Oscar Ziggy Mochi
Tofu Nala Simba Poppy Olive Pickles Waffles""".split()
COLORS = """red blue green black white silver grey yellow orange purple brown""".split()
CARS = ["hatchback", "sedan", "pickup", "van", "convertible", "SUV", "minivan", "coupe"]
PLACES = """station library office gym park harbour market school hospital museum stadium
bakery""".split()
GENRES = """mystery science-fiction fantasy history biography poetry travel cooking philosophy
economics romance horror""".split()
SUBJECTS = """whales|volcanoes|the Roman empire|quantum physics|jazz|the ocean|bees|ancient
Egypt|climate change|space travel|chess openings|the silk road|glaciers|honeybees|robots""".replace(
    "\n", " ").split("|")
CUISINES = """Italian Japanese Thai Mexican Indian Ethiopian Greek Lebanese Korean Vietnamese
Peruvian Spanish French Turkish Moroccan""".split()
PERIODS = ["month", "year", "spring", "summer", "autumn", "winter", "week"]

TEMPLATES = [
    "{name} likes {food} {time}.",
    "{name} prefers {drink} over {drink2}, especially {time}.",
    "{name}'s {rel} lives in {city} and works as a {job}.",
    "{name} is allergic to {allergen} and never eats {food}.",
    "{name} has a meeting with {name2} about the {topic} {day}.",
    "{name} started learning {hobby} last {period} and practises {time}.",
    "{name} owns a {color} {pet} called {petname} who is {num} years old.",
    "{name} wants to visit {city} in {month} with their {rel}.",
    "The {topic} deadline for {name} moved to {day}.",
    "{name} drives a {color} {car} and parks near the {place}.",
    "{name} dislikes {hobby} but enjoys {hobby2} {time}.",
    "Remind {name} to call their {rel} about the {topic} {day}.",
    "{name} reads {genre} books and recently finished one about {subject}.",
    "{name} moved from {city} to {city2} in {year} to work as a {job}.",
    "{name} booked a table at a {cuisine} restaurant in {city} for {num} people {day}.",
    "{name} usually drinks {drink} and eats {food} for breakfast.",
    "{name}'s favourite colour is {color} and they collect {color2} {pet} figurines.",
    "{name} runs {num} kilometres {time} around the {place}.",
    "{name} and {name2} play {hobby} together {time}.",
    "{name} is saving money for a trip to {city} in {month} {year}.",
]
QUESTIONS = [
    "what does {name} like to eat {time}?",
    "where does {name}'s {rel} live and work?",
    "when is {name}'s meeting about the {topic}?",
    "what kind of pet does {name} have?",
    "which city does {name} want to visit in {month}?",
    "is {name} allergic to {allergen}?",
    "what does {name} drink {time}?",
    "which hobby is {name} learning this {period}?",
    "what car does {name} drive?",
    "where did {name} move to work as a {job}?",
    "does {name} enjoy {hobby}?",
    "what books about {subject} has {name} read?",
    "{name} {cuisine} restaurant booking",
    "{name} trip to {city}",
]

_FIELDS = {
    "name": NAMES, "name2": NAMES, "rel": RELATIONS, "city": CITIES, "city2": CITIES,
    "job": JOBS, "food": FOODS, "drink": DRINKS, "drink2": DRINKS, "hobby": HOBBIES,
    "hobby2": HOBBIES, "topic": [t.strip() for t in TOPICS], "time": [t.strip() for t in TIMES],
    "day": [d.strip() for d in DAYS], "month": MONTHS, "allergen": ALLERGENS, "pet": PETS,
    "petname": PET_NAMES, "color": COLORS, "color2": COLORS, "car": CARS, "place": PLACES,
    "genre": GENRES, "subject": SUBJECTS, "cuisine": CUISINES, "period": PERIODS,
    "num": [str(i) for i in range(2, 40)], "year": [str(y) for y in range(1995, 2026)],
}


def _fill(templates: list[str], n: int, rng: np.random.Generator) -> list[str]:
    picks = {k: rng.integers(len(v), size=n) for k, v in _FIELDS.items()}
    tpl = rng.integers(len(templates), size=n)
    out = []
    for i in range(n):
        values = {k: _FIELDS[k][picks[k][i]] for k in _FIELDS}
        out.append(templates[tpl[i]].format(**values).replace("-", " "))
    return out


def sentences(n: int, seed: int = 0) -> list[str]:
    """``n`` memory texts (deterministic for a seed)."""
    return _fill(TEMPLATES, n, np.random.default_rng(seed))


def questions(n: int, seed: int = 1) -> list[str]:
    """``n`` query texts: questions over the same vocabulary, not stored sentences."""
    return _fill(QUESTIONS, n, np.random.default_rng(10_000 + seed))


def users(n: int) -> list[str]:
    return [f"user-{i:04d}" for i in range(n)]


def metadata_for(i: int) -> dict[str, object]:
    """Small, varied JSON metadata (as agents attach: source, topic tag, importance)."""
    return {
        "source": ("chat", "email", "calendar", "notes")[i % 4],
        "importance": i % 5,
        "tags": [("personal", "work", "health", "travel", "food")[i % 5]],
    }


def item_stream(
    total: int, n_users: int, chunk: int, seed: int = 0
) -> Iterator[tuple[int, list[str], np.ndarray]]:
    """Chunks of ``(start, texts, user indices)``; users drawn at random (many scopes)."""
    rng = np.random.default_rng(seed + 7)
    for start in range(0, total, chunk):
        n = min(chunk, total - start)
        yield start, sentences(n, seed=seed * 1_000_003 + start), rng.integers(n_users, size=n)
