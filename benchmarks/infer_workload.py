"""The intelligent-mode benchmark workload: deterministic user messages and what they mean.

Each user sends ``n`` chat messages: first-person statements the rule-based model turns
into facts (where they live and work, their job, name, favourite colour, pets, hobbies,
diet, allergies), later messages that contradict some of them ("I live in Lyon now"),
a restatement of something already said, and small talk or questions with no fact.
Everything is drawn from a seeded RNG per user, so every run and both systems see the
same text.

:func:`expected_state` replays one user's messages through the same rules the loopback
server uses (``rules.extract_facts`` then ``rules.decide`` against every fact still
valid), one message at a time: the facts that must be valid afterwards, and the set of
every distinct fact ever stated (what an add-only memory such as Mem0 2.x ends up with).
No part of this module uses Python's salted ``hash()``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from agentmem_plugins.testing import rules

CITIES = [
    "Paris", "Berlin", "Lisbon", "Madrid", "Vienna", "Prague", "Dublin", "Oslo", "Warsaw",
    "Athens", "Helsinki", "Zurich", "Porto", "Seville", "Krakow", "Munich", "Lyon", "Milan",
    "Toronto", "Denver", "Austin", "Seattle", "Boston", "Chicago", "Osaka", "Kyoto",
]  # fmt: skip
COMPANIES = [
    "Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark Industries", "Wayne Enterprises",
    "Cyberdyne", "Soylent", "Vandelay Industries", "Wonka", "Tyrell", "Aperture", "Oscorp",
]  # fmt: skip
JOBS = [
    "nurse", "teacher", "software engineer", "pilot", "chef", "architect", "lawyer",
    "designer", "pharmacist", "journalist", "accountant", "electrician", "librarian",
]  # fmt: skip
NAMES = [
    "Alice", "Bob", "Carla", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas",
    "Kemal", "Lena", "Mateo", "Nadia", "Omar", "Priya", "Quentin", "Rosa", "Sven", "Tariq",
]  # fmt: skip
COLOURS = ["blue", "green", "red", "yellow", "purple", "orange", "teal", "black", "white"]
PETS = ["dog", "cat", "parrot", "rabbit", "hamster", "tortoise"]
PET_NAMES = ["Rex", "Milo", "Luna", "Bella", "Oscar", "Coco", "Ziggy", "Pepper", "Nala"]
INSTRUMENTS = ["guitar", "piano", "violin", "drums", "cello", "flute", "saxophone"]
SPORTS = ["tennis", "chess", "football", "badminton", "volleyball", "golf", "squash"]
HOBBIES = ["hiking", "knitting", "gardening", "photography", "pottery", "birdwatching"]
FOODS = ["peanuts", "shellfish", "gluten", "lactose", "strawberries", "sesame"]
DIETS = ["vegetarian", "vegan", "pescatarian"]
SMALL_TALK = [
    "Hi there!",
    "Thanks, that helps.",
    "What's the weather like today?",
    "Can you recommend a good book?",
    "I think so.",
    "I'm fine, thanks.",
    "Ok cool.",
    "How do I boil an egg?",
    "I guess that makes sense.",
    "Hello again!",
    "Could you summarise that for me?",
    "Sounds good!",
]
LEAD_INS = ["", "", "", "Oh and ", "By the way, ", "Also, ", "Well, "]


@dataclass
class UserScript:
    user_id: str
    messages: list[str]


def user_script(index: int, n_messages: int, *, seed: int = 0) -> UserScript:
    """The ``n_messages`` messages of user ``index`` (deterministic)."""
    rng = random.Random(f"agentmem-infer-bench:{seed}:{index}")
    # (key, statement template, value pool): single-valued relations a user may restate
    # later with another value (a contradiction the store must resolve)
    relations = [
        ("city", "I live in {}.", CITIES),
        ("company", "I work at {}.", COMPANIES),
        ("job", "I work as a {}.", JOBS),
        ("colour", "My favourite colour is {}.", COLOURS),
        ("manager", "My manager is {}.", NAMES),
    ]
    rng.shuffle(relations)
    name = rng.choice(NAMES)
    facts: list[str] = [f"My name is {name}."]
    chosen: dict[str, str] = {}
    for key, template, pool in relations:
        chosen[key] = rng.choice(pool)
        facts.append(template.format(chosen[key]))
    extras = [
        f"I have a {rng.choice(PETS)} named {rng.choice(PET_NAMES)}.",
        f"I play the {rng.choice(INSTRUMENTS)}.",
        f"I play {rng.choice(SPORTS)} on weekends.",
        f"I enjoy {rng.choice(HOBBIES)}.",
        f"I'm allergic to {rng.choice(FOODS)}.",
        f"I'm {rng.choice(DIETS)}.",
    ]
    rng.shuffle(extras)
    facts.extend(extras)
    # contradictions: two of the relations change value later on
    changes = []
    for key, template, pool in relations[:2]:
        value = rng.choice([v for v in pool if v != chosen[key]])
        lead = rng.choice(["Actually, ", "Oh and ", "Update: ", ""])
        suffix = " now." if key in ("city", "company", "job") else "."
        changes.append(lead + template.format(value)[:-1] + suffix)
    restated: str | None = rng.choice(facts[1:])
    messages: list[str] = []
    statements = [*facts]
    while len(messages) < n_messages:
        if statements and (rng.random() < 0.7 or len(messages) < 2):
            s = statements.pop(0)
            lead = "" if s.startswith("My name") else rng.choice(LEAD_INS)
            messages.append(lead + (s[:1].lower() + s[1:] if lead else s))
        elif changes and len(messages) >= n_messages // 2:
            messages.append(changes.pop(0))
        elif restated is not None and len(messages) >= n_messages // 3:
            messages.append(restated)
            restated = None
        else:
            messages.append(rng.choice(SMALL_TALK))
    # the changes must happen: put any not yet sent at the end
    for i, change in enumerate(changes):
        messages[-(i + 1)] = change
    return UserScript(f"bench-user-{index:04d}", messages[:n_messages])


def workload(users: int, messages: int, *, seed: int = 0) -> list[UserScript]:
    return [user_script(i, messages, seed=seed) for i in range(users)]


@dataclass
class Expected:
    valid: set[str] = field(default_factory=set)  # normalised texts valid at the end
    invalidated: int = 0  # memories invalidated when messages are applied one by one
    stated: set[str] = field(default_factory=set)  # every distinct fact ever extracted
    facts_extracted: int = 0  # facts the rules extract, message by message


def expected_state(script: UserScript) -> Expected:
    """Apply the rules one message at a time against every valid fact (module doc)."""
    memories: dict[int, str] = {}
    next_id = 0
    out = Expected()
    for text in script.messages:
        facts = rules.extract_facts({"messages": [{"role": "user", "content": text}]})["facts"]
        out.facts_extracted += len(facts)
        known = {rules.normalise(t) for t in memories.values()}
        fresh = []
        for f in facts:
            out.stated.add(rules.normalise(f["text"]))
            if rules.normalise(f["text"]) not in known:
                fresh.append(f["text"])
        if not fresh:
            continue
        if not memories:
            decisions = [{"fact": i, "action": "add", "text": t} for i, t in enumerate(fresh)]
        else:
            payload = {
                "facts": [{"index": i, "text": t} for i, t in enumerate(fresh)],
                "memories": [{"id": str(k), "text": v} for k, v in memories.items()],
            }
            decisions = rules.decide(payload)["decisions"]
        added: set[int] = set()
        for d in decisions:
            if d.get("target") is None:  # add, or about another fact of the message
                continue
            if d["action"] == "update":
                memories[int(d["target"])] = d["text"]
                added.add(d["fact"])
            elif d["action"] == "invalidate" and memories.pop(int(d["target"]), None):
                out.invalidated += 1
        for d in decisions:
            if d["action"] in ("add", "invalidate") and d["fact"] not in added:
                memories[next_id] = d["text"]
                next_id += 1
                added.add(d["fact"])
    out.valid = {rules.normalise(t) for t in memories.values()}
    return out
