"""Vocabulary for the synthetic entity names both benchmarks generate (fixed, no randomness)."""

from __future__ import annotations

import random

FIRST = ["James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
    "Charles", "Karen", "Daniel", "Nancy", "Matthew", "Betty", "Anthony", "Margaret", "Mark",
    "Sandra", "Paul", "Emily", "Andrew", "Donna", "Joshua", "Michelle", "Kevin", "Amanda", "Brian",
    "Dorothy", "George", "Melissa", "Edward", "Rebecca", "Jason", "Sharon", "Laura", "Ryan",
    "Cynthia", "Jacob", "Amy", "Nicholas", "Angela", "Eric", "Anna", "Stephen", "Helen", "Samuel",
    "Katherine", "Gregory", "Rachel", "Henry", "Olivia", "Peter", "Lauren", "Hiroshi", "Yuki",
    "Wei", "Mei", "Arjun", "Priya", "Olusegun", "Chiamaka", "Mateo", "Lucia", "Sven", "Astrid",
    "Dmitri", "Olga", "Kwame", "Ama", "Rafael", "Camila", "Ingrid", "Lars", "Fatima", "Omar",
    "Leila", "Tariq", "Noor", "Hana", "Kenji", "Aiko", "Chen", "Ravi", "Ananya", "Diego", "Sofia",
    "Pierre", "Amelie", "Giulia", "Marco"]
LAST = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Taylor", "Moore",
    "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark",
    "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott",
    "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera",
    "Campbell", "Mitchell", "Carter", "Roberts", "Gomez", "Phillips", "Evans", "Turner", "Diaz",
    "Parker", "Cruz", "Edwards", "Collins", "Reyes", "Stewart", "Morris", "Morales", "Murphy",
    "Cook", "Rogers", "Morgan", "Cooper", "Peterson", "Bailey", "Reed", "Kelly", "Howard", "Kim",
    "Ward", "Watson", "Brooks", "Wood", "Bennett", "Gray", "Hughes", "Price", "Patel", "Myers",
    "Ross", "Foster", "Tanaka", "Suzuki", "Yamamoto", "Okafor", "Adeyemi", "Mensah", "Kowalski",
    "Novak", "Horvat", "Lindqvist", "Johansson", "Petrov", "Ivanova", "Rossi", "Bianchi", "Dubois",
    "Lefebvre", "Moreau", "Schneider", "Fischer", "Weber", "Becker", "Wang", "Zhang", "Liu",
    "Huang", "Singh", "Kumar", "Sharma", "Gupta", "Haddad", "Nasser", "Sato", "Ito"]
SYLLABLES = ["al", "an", "ar", "bel", "ber", "bro", "ca", "car", "ches", "clif", "dal", "den",
    "dor", "el", "en", "fair", "field", "ford", "gate", "glen", "ham", "har", "hill", "holm",
    "hurst", "kirk", "la", "lan", "ley", "lin", "mar", "mead", "mere", "mont", "mor", "nor", "oak",
    "pen", "ridge", "ros", "sal", "shaw", "stan", "ton", "vale", "ver", "wes", "wick", "win",
    "wood", "york"]
PLACE_FORMS = ["{}", "{}", "{}", "New {}", "Port {}", "Lake {}", "{} Falls", "{} Springs",
               "East {}", "West {}", "San {}", "Fort {}", "Mount {}"]
INDUSTRY = ["Logistics", "Holdings", "Capital", "Partners", "Systems", "Technologies",
    "Pharmaceuticals", "Energy", "Foods", "Motors", "Airlines", "Insurance", "Media", "Labs",
    "Robotics", "Analytics", "Bank", "Semiconductors", "Shipping", "Mining", "Chemicals",
    "Software", "Networks", "Biosciences", "Entertainment", "Construction", "Publishing"]
ADJECTIVES = ["Global", "United", "National", "First", "Pacific", "Atlantic", "Northern",
    "Southern", "Royal", "General", "Allied", "Advanced", "Premier", "Summit", "Pioneer",
    "Sterling", "Quantum", "Apex", "Crown", "Liberty", "Horizon", "Evergreen", "Silver", "Golden",
    "Blue", "Red", "Silent", "Hidden", "Last", "Broken", "Distant", "Burning", "Frozen", "Endless",
    "Forgotten"]
NOUNS = ["River", "Mountain", "Harbor", "Bridge", "Tower", "Star", "Falcon", "Eagle", "Lion",
    "Oak", "Cedar", "Stone", "Iron", "Coast", "Valley", "Bay", "Peak", "Forest", "Delta", "Beacon",
    "Compass", "Anchor", "Harvest", "Garden", "Mirror", "Shadow", "Winter", "Orchard", "Lantern",
    "Voyage", "Crown", "Storm", "Letter", "Song", "Island", "Empire"]
INSTITUTIONS = ["University", "General Hospital", "Museum of Art", "City Council",
                "Public Library", "Institute of Technology", "Symphony Orchestra"]


def place_word(rng: random.Random) -> str:
    """A made-up single-word place name such as 'Norbridge'."""
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 2, 3)))).capitalize()


def place(rng: random.Random) -> str:
    """A town, lake or region name."""
    return rng.choice(PLACE_FORMS).format(place_word(rng))
