"""The word lists behind comment themes: stop words per language, and the glossary that lets Dutch and English meet.

Data only, read by :mod:`stream.ces.comments.terms`. Everything here is lower case and unstemmed; the terms
module stems it as it reads it.

- ``ENGLISH_STOP_WORDS``: scikit-learn's English list without the words that name something users complain
  about (its list holds "bill", "empty", "find", "call", "fill", "show", "system" ...), plus the pieces
  contractions break into ("don" of "don't") and survey filler ("please", "thanks").
- ``DUTCH_STOP_WORDS``: our own list: articles, pronouns, prepositions, conjunctions, auxiliary and modal
  verbs, and the same kind of filler.
- ``GLOSSARY``: common words of digital self-service (invoices, logging in, forms, payments, delivery, ...)
  mapped to one English word, so that a Dutch and an English comment about the same thing share terms
  ("factuur" and "invoice" both become the term *invoice*; labels still show the words users wrote). Words
  outside it still group, within their language. A value of two words splits a compound ("inlogcode").
"""

from __future__ import annotations

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS as SKLEARN_ENGLISH_STOP_WORDS

# Meaningful in a complaint, so kept as terms although scikit-learn's list drops them.
_KEEP_IN_ENGLISH = {
    "amount",
    "back",
    "bill",
    "bottom",
    "call",
    "computer",
    "detail",
    "empty",
    "fill",
    "find",
    "found",
    "front",
    "full",
    "give",
    "move",
    "name",
    "part",
    "show",
    "side",
    "system",
    "top",
}
_ENGLISH_EXTRA = {
    "aren", "can", "couldn", "didn", "doesn", "don", "hadn", "hasn", "haven", "isn", "ll", "ve", "re", "shouldn",
    "wasn", "weren", "won", "wouldn", "cant", "dont", "doesnt", "didnt", "isnt", "wont", "im", "ive", "id",
    "please", "pls", "thanks", "thank", "just", "really", "ok", "okay", "like", "got", "get", "getting", "lot",
    "bit", "tried", "try", "trying", "also", "still", "time", "times", "way", "want", "need", "make", "did",
    "does", "doing", "going", "went", "used", "use", "using", "good", "bad", "great", "nice", "easy", "hard",
    "difficult", "very", "quite", "oh", "yes", "hi", "hello",
}  # fmt: skip


ENGLISH_STOP_WORDS: frozenset[str] = frozenset((set(SKLEARN_ENGLISH_STOP_WORDS) - _KEEP_IN_ENGLISH) | _ENGLISH_EXTRA)


DUTCH_STOP_WORDS: frozenset[str] = frozenset(
    {
        "aan", "al", "alle", "alles", "als", "altijd", "ander", "andere", "anders", "ben", "bent", "bij", "binnen",
        "daar", "daarna", "dan", "dat", "de", "der", "deze", "die", "dit", "doch", "doen", "door", "dus", "een",
        "eens", "en", "er", "ergens", "ge", "geen", "geweest", "had", "hadden", "haar", "heb", "hebben", "hebt",
        "heeft", "hem", "het", "hier", "hij", "hoe", "hun", "ik", "in", "is", "ja", "je", "jij", "jou", "jouw",
        "jullie", "kan", "kon", "konden", "kun", "kunnen", "kunt", "maar", "me", "meer", "men", "met", "mij",
        "mijn", "moest", "moet", "moeten", "na", "naar", "nee", "niet", "niets", "nog", "nu", "of", "om", "omdat",
        "onder", "ons", "onze", "ook", "op", "over", "reeds", "te", "tegen", "toch", "toen", "tot", "u", "uit",
        "uw", "van", "veel", "voor", "want", "waren", "was", "wat", "we", "wel", "werd", "wie", "wij", "wil",
        "wilde", "word", "worden", "wordt", "zal", "ze", "zelf", "zich", "zij", "zijn", "zo", "zonder", "zou",
        "zouden", "zie", "zien", "daarom", "dacht", "iets", "iemand", "elke", "ieder", "welke", "waar", "waarom",
        "wanneer", "hoor", "even", "gewoon", "heel", "erg", "echt", "best", "wellicht", "misschien", "graag",
        "aub", "alstublieft", "alsjeblieft", "svp", "dank", "bedankt", "dankjewel", "prima", "goed",
        "slecht", "leuk", "makkelijk", "gemakkelijk", "moeilijk", "lastig", "keer", "weer", "steeds", "nou",
        "hallo", "hoi", "beste", "mevrouw", "meneer", "ok", "oke", "oké", "zeer", "vrij", "nogal",
    }
)  # fmt: skip

# Dutch word (or English synonym) -> the English word both languages share as a term.
GLOSSARY: dict[str, str] = {
    # invoices and payments
    "factuur": "invoice", "facturen": "invoice", "nota": "invoice", "bill": "invoice", "bills": "invoice",
    "betaling": "payment", "betalingen": "payment", "betalen": "pay", "betaald": "paid", "bedrag": "amount",
    "terugbetaling": "refund", "incasso": "direct debit", "rekening": "account",
    # downloading, documents, files
    "downloaden": "download", "gedownload": "download", "download": "download", "downloadt": "download",
    "bestand": "file", "bestanden": "file", "bijlage": "attachment", "uploaden": "upload", "geupload": "upload",
    "afdrukken": "print", "printen": "print", "leeg": "empty", "opslaan": "save", "bewaren": "save",
    # logging in, codes, passwords
    "inloggen": "login", "inlog": "login", "ingelogd": "login", "aanmelden": "login", "aangemeld": "login",
    "inlogcode": "login code", "inlogcodes": "login code", "verificatiecode": "verification code",
    "wachtwoord": "password", "wachtwoorden": "password", "gebruikersnaam": "username", "uitloggen": "logout",
    "uitgelogd": "logout", "sms'je": "sms", "smsje": "sms", "sms": "sms", "sms-code": "sms code",
    "smscode": "sms code", "texted": "sms",
    # forms and data
    "formulier": "form", "formulieren": "form", "gegevens": "data", "invullen": "fill", "ingevuld": "fill",
    "kwijt": "lost", "verdwenen": "lost", "verloren": "lost", "gewist": "erased", "wissen": "erased",
    "veld": "field", "velden": "field",
    # navigation, screens, errors, speed
    "knop": "button", "pagina": "page", "scherm": "screen", "menu": "menu", "zoeken": "search",
    "zoekfunctie": "search", "vinden": "find", "vind": "find", "fout": "error", "foutmelding": "error message",
    "melding": "message", "storing": "outage", "traag": "slow", "langzaam": "slow", "laden": "load",
    "laadt": "load", "vastgelopen": "crash", "vastlopen": "crash", "crasht": "crash",
    "wachten": "wait", "wachttijd": "wait", "duurt": "takes", "duurde": "takes", "laat": "late",
    "onduidelijk": "unclear", "ingewikkeld": "complicated", "stappen": "steps", "stap": "steps",
    "verkeerd": "wrong", "verkeerde": "wrong", "dubbel": "double", "twice": "double", "hoog": "high",
    "hoger": "higher", "kapot": "broken",
    # orders, delivery, contact
    "bestelling": "order", "bestellen": "order", "besteld": "order", "levering": "delivery",
    "bezorging": "delivery", "bezorgd": "delivered", "geleverd": "delivered", "retour": "return",
    "retourneren": "return", "adres": "address", "verhuizing": "move", "wijzigen": "change",
    "aanpassen": "change", "gewijzigd": "changed", "klantenservice": "support", "klantendienst": "support",
    "helpdesk": "support", "bellen": "call", "gebeld": "call", "telefoon": "phone", "mail": "email",
    "e-mail": "email", "mailtje": "email", "polis": "policy", "verzekering": "insurance", "schade": "damage",
    "declaratie": "claim", "declareren": "claim", "indienen": "submit", "versturen": "send",
    "verzenden": "send", "verstuurd": "sent", "ontvangen": "received", "gekregen": "received",
}  # fmt: skip
