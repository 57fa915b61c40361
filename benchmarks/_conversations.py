"""Multi-session conversations with gold evidence, written by the project (deterministic).

Each user talks to an assistant over several dated sessions. Most turns are small talk;
some state a fact about the user (a pet, a job, a move, an allergy, a trip, ...), some
state a similar fact about someone else (a hard negative: "my colleague's dog is called
Max"), and some facts take two turns: the user raises a topic, the assistant asks, and
the user answers in a few words ("Biscuit."), so the answer turn alone does not name the
topic. Every question names the turns that answer it (``evidence``: one turn, or two
for two-turn facts) and comes in several paraphrases, some sharing no content word with
the evidence; "when did ..." questions ask for the date of an event, and "which ...
in <month>" questions name the month the fact was said in.

    from benchmarks._conversations import build
    data = build(users=30, seed=0)   # data.turns, data.questions
"""

# ruff: noqa: E501  (templates read better on one line)
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

NAMES = ["Biscuit", "Pepper", "Luna", "Milo", "Nala", "Olive", "Rocky", "Mochi", "Ziggy", "Juniper", "Pickle", "Waffles", "Clover", "Hazel", "Bruno", "Tofu", "Maple", "Sunny", "Ginger", "Pixel"]
PEOPLE = ["Ana", "Rui", "Ines", "Tomas", "Leonor", "Marta", "Joao", "Sofia", "Pedro", "Clara", "Miguel", "Beatriz", "Diogo", "Rita", "Nuno", "Helena", "Vasco", "Carla", "Duarte", "Teresa"]
CITIES = ["Porto", "Lisbon", "Madrid", "Berlin", "Dublin", "Vienna", "Prague", "Oslo", "Zurich", "Athens", "Krakow", "Lyon", "Seville", "Bologna", "Utrecht", "Gothenburg", "Ghent", "Tallinn", "Ljubljana", "Valencia"]
COMPANIES = ["Tidewater Labs", "Northwind Bank", "Brightline Health", "Quarry Studios", "Halcyon Robotics", "Bluefin Logistics", "Cedar Analytics", "Lumen Energy", "Orchard Foods", "Vantage Media"]
JOBS = ["data engineer", "nurse", "product designer", "high school teacher", "civil engineer", "pharmacist", "software developer", "accountant", "architect", "paramedic"]
ANIMALS = ["dog", "cat", "rabbit", "parrot", "hamster", "tortoise"]
INSTRUMENTS = ["cello", "piano", "violin", "saxophone", "drums", "ukulele", "trumpet", "flute"]
ALLERGENS = ["peanuts", "shellfish", "gluten", "eggs", "sesame", "almonds", "strawberries", "lactose"]
SPORTS = ["half marathon", "triathlon", "cycling race", "10k run", "swimming relay", "mountain trail race"]
BOOKS = ["The Left Hand of Darkness", "Middlemarch", "The Remains of the Day", "Pachinko", "Stoner", "A Gentleman in Moscow", "The Overstory", "Beloved"]
CARS = ["electric hatchback", "old Volvo estate", "second hand Fiat Panda", "small pickup truck", "hybrid SUV", "vintage Beetle"]
COLOURS = ["red", "blue", "green", "silver", "black", "yellow"]
LANGUAGES = ["Portuguese", "Japanese", "German", "Korean", "Italian", "Greek", "Dutch", "Arabic"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]


@dataclass
class Turn:
    id: str
    user: str
    session: int
    index: int  # position in the session
    role: str
    text: str
    observed_at: datetime


@dataclass
class Question:
    user: str
    text: str
    evidence: list[str]  # turn ids
    kind: str  # "fact", "paraphrase", "two-turn", "when", "month"
    topic: str


@dataclass
class Dataset:
    turns: list[Turn] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)


# A fact: (topic, statement turns, question paraphrases). Statement turns are one user
# turn, or (user, assistant, user) for two-turn facts; "{other}" marks hard negatives.
@dataclass
class _Fact:
    topic: str
    turns: list[tuple[str, str]]  # (role, text)
    questions: list[str]
    event: str  # for "when did ..." questions: what happened, as a verb phrase
    two_turn: bool = False


def _facts(rng: np.random.Generator) -> list[_Fact]:
    def pick(xs: list[str]) -> str:
        return xs[int(rng.integers(len(xs)))]

    animal, pet, person, city = pick(ANIMALS), pick(NAMES), pick(PEOPLE), pick(CITIES)
    job, company, instrument = pick(JOBS), pick(COMPANIES), pick(INSTRUMENTS)
    allergen, sport, book, car = pick(ALLERGENS), pick(SPORTS), pick(BOOKS), pick(CARS)
    colour, language, trip, sibling = pick(COLOURS), pick(LANGUAGES), pick(CITIES), pick(PEOPLE)
    return [
        _Fact("pet", [("user", "We finally got a new puppy last weekend!" if animal == "dog" else f"Guess what, we adopted a {animal} from the shelter on Saturday."), ("assistant", "That's lovely! What did you name it?"), ("user", f"{pet}. The kids chose it.")],
              [f"What is my {animal} called?", "What's the name of the pet we adopted?", "What did we name our new animal?", f"Remind me of my {animal}'s name."], "adopt the pet", two_turn=True),
        _Fact("job", [("user", f"I signed the contract today: I'm starting as a {job} at {company} next month.")],
              ["Where do I work?", "What is my job?", "What do I do for a living?", "Which company hired me?"], "sign the new job contract"),
        _Fact("move", [("user", f"The movers came yesterday, so we officially live in {city} now.")],
              ["Which city do I live in?", "Where did we move to?", "Where is my home these days?", "What town am I based in now?"], "move house"),
        _Fact("allergy", [("user", f"Please keep in mind I'm allergic to {allergen}, it gets bad quickly.")],
              ["Which foods should I avoid?", "What am I allergic to?", "Is there anything I can't eat?", "What ingredient makes me ill?"], "mention the allergy"),
        _Fact("instrument", [("user", "I started music lessons this week."), ("assistant", "Fun! Which instrument?"), ("user", f"The {instrument}. My teacher is very patient.")],
              ["Which instrument am I learning?", "What am I taking lessons in?", "What music do I practise?", "What did I start playing this week?"], "start music lessons", two_turn=True),
        _Fact("race", [("user", f"I signed up for a {sport} in {pick(MONTHS)}, so I'm training every morning.")],
              ["What race am I training for?", "Which sports event did I sign up for?", "Why do I train every morning?", "What competition am I preparing for?"], "sign up for the race"),
        _Fact("book", [("user", f"I'm halfway through {book} and I can't put it down.")],
              ["What book am I reading?", "Which novel did I say I can't put down?", "What am I reading at the moment?", "Any book I'm in the middle of?"], "start the book"),
        _Fact("car", [("user", f"We sold the old car and bought a {colour} {car}.")],
              ["What car do we drive now?", "What vehicle did we buy?", "What colour is our new car?", "Did we replace the car?"], "buy the car"),
        _Fact("language", [("user", f"I've been studying {language} on the train, twenty minutes a day.")],
              ["Which language am I studying?", "What am I learning on my commute?", "Which foreign language did I pick up?", "What do I study on the train?"], "start studying the language"),
        _Fact("trip", [("user", f"Big plans: I'm flying to {trip} for my cousin's wedding.")],
              ["Where am I flying to?", "Which wedding am I travelling for?", "Where is the wedding I'm going to?", "What trip do I have planned?"], "book the trip"),
        _Fact("sibling", [("user", "My sister just told me she's pregnant!"), ("assistant", "Congratulations to her! What's her name?"), ("user", f"{sibling}, she's two years older than me.")],
              ["What's my sister's name?", "Who is expecting a baby?", "Which family member is pregnant?", "How old is my sister compared to me?"], "hear the pregnancy news", two_turn=True),
        _Fact("manager", [("user", f"New boss at work: {person}. Seems fair so far.")],
              ["Who is my manager?", "Who do I report to?", "What's my boss's name?", "Who leads my team now?"], "get the new manager"),
    ]


def _negatives(rng: np.random.Generator) -> list[str]:
    """Statements about other people: same topics, not the user's facts."""
    p = lambda xs: xs[int(rng.integers(len(xs)))]  # noqa: E731
    return [
        f"My colleague {p(PEOPLE)} has a {p(ANIMALS)} called {p(NAMES)}, it's adorable.",
        f"My friend {p(PEOPLE)} moved to {p(CITIES)} for work.",
        f"{p(PEOPLE)} from the office is allergic to {p(ALLERGENS)}.",
        f"My neighbour plays the {p(INSTRUMENTS)} at night, it drives me mad.",
        f"My brother is reading {p(BOOKS)} for his book club.",
        f"{p(PEOPLE)} bought a {p(COLOURS)} {p(CARS)} last year.",
        f"My cousin works as a {p(JOBS)} at {p(COMPANIES)}.",
        f"{p(PEOPLE)} is learning {p(LANGUAGES)} for an exchange year.",
    ]


SMALL_TALK = [
    "Morning! Slept terribly, the neighbours had a party.",
    "It's raining again, I forgot my umbrella at home.",
    "Work was so busy today, back to back meetings.",
    "Can you recommend a series to watch tonight?",
    "I'm thinking of cooking something new this weekend.",
    "The train was late again, twenty minutes this time.",
    "I need to answer a pile of emails before lunch.",
    "Do you think I should go for a walk or stay in?",
    "My phone battery dies so fast lately.",
    "We watched a documentary about octopuses, fascinating stuff.",
    "I can't decide what to get my dad for his birthday.",
    "Traffic was awful, I should have cycled.",
    "Had the best coffee at the new place near the station.",
    "I'm so tired, I think I'll go to bed early.",
    "The weekend went by way too fast.",
    "I tried a yoga class, my legs are sore now.",
]
ASSISTANT = [
    "That sounds exhausting, I hope tomorrow is calmer.",
    "Good idea. Let me know how it goes!",
    "I'm sorry to hear that. Anything I can help with?",
    "Nice! Tell me more whenever you like.",
    "That makes sense. Take it one step at a time.",
    "Got it, I'll keep that in mind.",
    "Sounds like a plan.",
    "Oh, that's interesting!",
]


def build(users: int = 30, sessions: int = 6, seed: int = 0) -> Dataset:
    """``users`` conversations of ``sessions`` dated sessions each, with their questions."""
    data = Dataset()
    for u in range(users):
        rng = np.random.default_rng(seed * 1_000 + u)
        user = f"user{u:03d}"
        facts = _facts(rng)
        order = rng.permutation(len(facts))
        negatives = _negatives(rng)
        start = datetime(2026, 1, 5, 9, 0) + timedelta(days=int(rng.integers(0, 20)))
        per_session = [list(order[s::sessions]) for s in range(sessions)]
        for s in range(sessions):
            when = start + timedelta(days=23 * s + int(rng.integers(0, 6)), hours=int(rng.integers(0, 10)))
            script: list[tuple[str, str, _Fact | None]] = []
            blocks: list[list[tuple[str, str, _Fact | None]]] = [
                [(role, text, facts[f]) for role, text in facts[f].turns] for f in per_session[s]
            ]
            blocks += [[("user", negatives[(2 * s + k) % len(negatives)], None)] for k in range(2)]
            blocks += [[("user", SMALL_TALK[int(i)], None)] for i in rng.choice(len(SMALL_TALK), 5, replace=False)]
            for b in rng.permutation(len(blocks)):
                script.extend(blocks[int(b)])
                if script[-1][0] == "user":
                    script.append(("assistant", ASSISTANT[int(rng.integers(len(ASSISTANT)))], None))
            fact_turns: dict[str, list[str]] = {}
            for i, (role, text, fact) in enumerate(script):
                turn = Turn(f"{user}-s{s}-t{i}", user, s, i, role, text, when + timedelta(minutes=i))
                data.turns.append(turn)
                if fact is not None and role == "user":
                    fact_turns.setdefault(fact.topic, []).append(turn.id)
            for f in per_session[s]:
                fact = facts[f]
                evidence = fact_turns[fact.topic]
                kind = "two-turn" if fact.two_turn else "fact"
                for k, q in enumerate(rng.permutation(fact.questions)[:3]):
                    data.questions.append(Question(user, str(q), evidence, kind if k == 0 else "paraphrase", fact.topic))
                data.questions.append(Question(user, f"When did I {fact.event}?", evidence, "when", fact.topic))
                month = MONTHS[when.month - 1]
                data.questions.append(Question(user, f"What did I tell you in {month} about my {fact.topic.replace('manager', 'boss')}?", evidence, "month", fact.topic))
    return data
