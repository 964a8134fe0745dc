"""A deterministic, seeded synthetic community written as generic JSONL, one line at a time.

Members (a few very active, most rarely) ask questions, answer each other, thank (by reply,
by @mention or just after an answer), react, chat, post links, complain with every severity
and now and then type a command; a few promoters cross-post the same advert into several
chats within minutes. German and English, on 20 topic chats over several weeks with a day
rhythm. The same config and seed always give the same bytes.

``write_telegram_export`` writes the same community as a Telegram Desktop export of one
supergroup (``result.json``), streamed too: texts as strings and as entity lists (links,
mentions, commands), replies, reactions with their ``recent`` givers, service joins,
forwarded and edited messages, a bot's posts.
"""

from __future__ import annotations

import bisect
import json
import random
import re
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

# --- vocabulary --------------------------------------------------------------------------
# Per theme and language: "how" (an infinitive phrase: "Wie kann ich {how}?"), "thing" (what
# one asks a recommendation for), "step" (an answer step, infinitive/base form), "topic".

Vocab = dict[str, tuple[str, ...]]

THEMES: dict[str, dict[str, Vocab]] = {
    "rad": {
        "de": {
            "how": (
                "die Kette wechseln",
                "die Scheibenbremse entlüften",
                "das Schaltwerk einstellen",
                "einen Platten flicken",
                "das Tretlager tauschen",
                "den Reifendruck richtig wählen",
                "die Bremsbeläge einfahren",
                "schlauchlose Reifen montieren",
            ),
            "thing": (
                "einen guten Helm",
                "ein Schloss für die Stadt",
                "eine Satteltasche",
                "eine Standpumpe",
                "Winterreifen",
                "ein Rücklicht mit Akku",
            ),
            "step": (
                "die Kette mit der Lehre messen",
                "den Einsteller eine halbe Umdrehung drehen",
                "die Beläge mit Schleifpapier anrauen",
                "die Scheibe mit Alkohol reinigen",
                "das Hinterrad ausbauen",
                "den Schlauch unter Wasser halten",
                "die Schrauben mit Drehmoment anziehen",
                "den Zug neu spannen",
            ),
            "topic": ("Scheibenbremsen", "Schaltungen", "Laufräder", "Rahmengrößen"),
        },
        "en": {
            "how": (
                "replace a worn chain",
                "bleed hydraulic disc brakes",
                "adjust the rear derailleur",
                "patch an inner tube",
                "swap the bottom bracket",
                "pick the right tyre pressure",
                "bed in new brake pads",
                "set up tubeless tyres",
            ),
            "thing": (
                "a decent helmet",
                "a lock for city parking",
                "a saddle bag",
                "a floor pump",
                "winter tyres",
                "a rechargeable rear light",
            ),
            "step": (
                "measure the chain with a checker",
                "turn the barrel adjuster half a turn",
                "sand the pads lightly",
                "clean the rotor with alcohol",
                "take the rear wheel off",
                "hold the tube under water",
                "torque the bolts properly",
                "re-tension the cable",
            ),
            "topic": ("disc brakes", "gearing", "wheels", "frame sizes"),
        },
    },
    "tech": {
        "de": {
            "how": (
                "ein Backup vom Handy machen",
                "den Router neu einrichten",
                "Fotos auf den Laptop übertragen",
                "die Zwei-Faktor-Anmeldung aktivieren",
                "den Speicher aufräumen",
                "das Tablet zurücksetzen",
                "eine zweite SIM einrichten",
            ),
            "thing": (
                "ein gutes Einsteigerhandy",
                "einen Passwortmanager",
                "einen leisen Laptop",
                "kabellose Kopfhörer",
                "eine Powerbank",
            ),
            "step": (
                "in den Einstellungen auf Speicher gehen",
                "den Cache der App leeren",
                "das Gerät einmal komplett neu starten",
                "die neueste Version installieren",
                "unter Konten die Synchronisierung einschalten",
                "das Kabel direkt am Laptop einstecken",
                "den Router für zehn Sekunden vom Strom nehmen",
            ),
            "topic": ("Android", "Heimnetz", "Datensicherung", "Smart Home"),
        },
        "en": {
            "how": (
                "back up my phone",
                "set up the router again",
                "move photos to my laptop",
                "turn on two-factor login",
                "free up some storage",
                "reset the tablet",
                "add a second SIM",
            ),
            "thing": (
                "a good budget phone",
                "a password manager",
                "a quiet laptop",
                "wireless earbuds",
                "a power bank",
            ),
            "step": (
                "open the storage settings",
                "clear the app cache",
                "restart the device fully",
                "install the latest version",
                "turn on sync under accounts",
                "plug the cable straight into the laptop",
                "unplug the router for ten seconds",
            ),
            "topic": ("Android", "home networking", "backups", "smart home"),
        },
    },
    "kochen": {
        "de": {
            "how": (
                "einen Sauerteig ansetzen",
                "Risotto cremig hinbekommen",
                "Brot mit knuspriger Kruste backen",
                "Zwiebeln richtig karamellisieren",
                "Gnocchi selbst machen",
                "ein Steak auf den Punkt braten",
            ),
            "thing": (
                "ein gutes Kochmesser",
                "eine gusseiserne Pfanne",
                "ein vegetarisches Kochbuch",
                "einen Pizzastein",
                "eine Küchenwaage",
            ),
            "step": (
                "das Mehl über Nacht quellen lassen",
                "den Ofen richtig vorheizen",
                "die Brühe nach und nach angießen",
                "eine Schale Wasser mit in den Ofen stellen",
                "die Pfanne erst richtig heiß werden lassen",
                "am Ende kalte Butter unterrühren",
            ),
            "topic": ("Brotbacken", "Fermentieren", "italienische Küche", "Meal Prep"),
        },
        "en": {
            "how": (
                "start a sourdough",
                "get risotto creamy",
                "bake bread with a crunchy crust",
                "caramelise onions properly",
                "make gnocchi from scratch",
                "cook a steak medium rare",
            ),
            "thing": (
                "a good chef's knife",
                "a cast iron pan",
                "a vegetarian cookbook",
                "a pizza stone",
                "a kitchen scale",
            ),
            "step": (
                "let the flour soak overnight",
                "preheat the oven properly",
                "add the stock bit by bit",
                "put a tray of water in the oven",
                "let the pan get really hot first",
                "stir in cold butter at the end",
            ),
            "topic": ("bread baking", "fermenting", "Italian food", "meal prep"),
        },
    },
    "garten": {
        "de": {
            "how": (
                "Tomaten richtig ausgeizen",
                "den Rasen vertikutieren",
                "Rosen im Herbst schneiden",
                "ein Hochbeet befüllen",
                "Schnecken vom Salat fernhalten",
                "Kräuter überwintern",
            ),
            "thing": (
                "eine gute Gartenschere",
                "Saatgut für Anfänger",
                "einen Komposter",
                "robuste Balkonpflanzen",
            ),
            "step": (
                "die Triebe in den Blattachseln ausbrechen",
                "nur bei trockenem Wetter schneiden",
                "unten grobes Holz und oben Kompost einfüllen",
                "morgens statt abends gießen",
                "einen Kupferstreifen um das Beet legen",
            ),
            "topic": ("Hochbeete", "Obstbäume", "Balkongärten", "Kompost"),
        },
        "en": {
            "how": (
                "prune tomato side shoots",
                "scarify the lawn",
                "cut back roses in autumn",
                "fill a raised bed",
                "keep slugs off the lettuce",
                "overwinter herbs",
            ),
            "thing": (
                "good pruning shears",
                "seeds for beginners",
                "a compost bin",
                "hardy balcony plants",
            ),
            "step": (
                "pinch out the shoots in the leaf joints",
                "only prune in dry weather",
                "put coarse wood at the bottom and compost on top",
                "water in the morning instead of the evening",
                "lay copper tape around the bed",
            ),
            "topic": ("raised beds", "fruit trees", "balcony gardens", "compost"),
        },
    },
    "foto": {
        "de": {
            "how": (
                "bei Nacht ohne Stativ fotografieren",
                "den Weißabgleich manuell setzen",
                "RAW-Dateien bearbeiten",
                "ein Porträt mit unscharfem Hintergrund machen",
                "den Sensor reinigen",
            ),
            "thing": (
                "ein lichtstarkes Objektiv",
                "ein leichtes Reisestativ",
                "eine Kameratasche",
                "ein Bildbearbeitungsprogramm",
            ),
            "step": (
                "die Blende ganz öffnen",
                "die ISO auf 1600 stellen",
                "mit Serienbild auslösen",
                "auf das nähere Auge scharf stellen",
                "die Belichtung um eine Stufe senken",
            ),
            "topic": ("Nachtfotografie", "Porträts", "Bildbearbeitung", "Objektive"),
        },
        "en": {
            "how": (
                "shoot at night without a tripod",
                "set white balance manually",
                "edit RAW files",
                "get a blurry background in portraits",
                "clean the sensor",
            ),
            "thing": (
                "a fast prime lens",
                "a light travel tripod",
                "a camera bag",
                "photo editing software",
            ),
            "step": (
                "open the aperture all the way",
                "set ISO to 1600",
                "shoot in burst mode",
                "focus on the nearer eye",
                "drop the exposure by one stop",
            ),
            "topic": ("night photography", "portraits", "editing", "lenses"),
        },
    },
    "games": {
        "de": {
            "how": (
                "den Endboss im dritten Akt schaffen",
                "im Koop-Modus Spielstände teilen",
                "die Grafikeinstellungen optimieren",
                "einen Controller am PC nutzen",
                "schneller Gold farmen",
            ),
            "thing": (
                "ein gutes Koop-Spiel",
                "ein Headset unter 80 Euro",
                "ein entspanntes Aufbauspiel",
                "einen Controller für den PC",
            ),
            "step": (
                "zuerst die Nebenquests erledigen",
                "den Schatten auf mittel stellen",
                "die Ausweichrolle früh lernen",
                "im Menü die Eingabe auf Controller umstellen",
                "vor dem Kampf die Ausrüstung verbessern",
            ),
            "topic": ("Strategiespiele", "Koop-Spiele", "Retro-Konsolen", "Speedruns"),
        },
        "en": {
            "how": (
                "beat the final boss in act three",
                "share saves in co-op",
                "tune the graphics settings",
                "use a controller on PC",
                "farm gold faster",
            ),
            "thing": (
                "a good co-op game",
                "a headset under 80 dollars",
                "a relaxing city builder",
                "a controller for PC",
            ),
            "step": (
                "do the side quests first",
                "set shadows to medium",
                "learn the dodge roll early",
                "switch input to controller in the menu",
                "upgrade your gear before the fight",
            ),
            "topic": ("strategy games", "co-op games", "retro consoles", "speedruns"),
        },
    },
    "reisen": {
        "de": {
            "how": (
                "günstig nach Lissabon kommen",
                "mit dem Nachtzug nach Wien fahren",
                "einen Roadtrip durch Schottland planen",
                "Handgepäck richtig packen",
                "in Japan mit Bargeld zahlen",
            ),
            "thing": (
                "einen leichten Rucksack",
                "einen Reiseführer für Norwegen",
                "eine Reiseversicherung",
                "einen Steckeradapter",
            ),
            "step": (
                "früh am Dienstag buchen",
                "das Sparpreis-Kontingent prüfen",
                "die Route in Etappen von drei Stunden teilen",
                "Rollen statt Falten beim Packen",
                "am Flughafen kein Geld wechseln",
            ),
            "topic": ("Zugreisen", "Städtetrips", "Camping", "Fernreisen"),
        },
        "en": {
            "how": (
                "get to Lisbon cheaply",
                "take the night train to Vienna",
                "plan a road trip through Scotland",
                "pack hand luggage well",
                "pay with cash in Japan",
            ),
            "thing": (
                "a light backpack",
                "a guidebook for Norway",
                "travel insurance",
                "a plug adapter",
            ),
            "step": (
                "book early on a Tuesday",
                "check the saver fares",
                "split the route into three-hour legs",
                "roll your clothes instead of folding",
                "avoid changing money at the airport",
            ),
            "topic": ("train travel", "city breaks", "camping", "long-haul trips"),
        },
    },
    "heim": {
        "de": {
            "how": (
                "eine Wand sauber streichen",
                "einen tropfenden Wasserhahn abdichten",
                "Laminat verlegen",
                "Dübel in Gipskarton setzen",
                "Silikonfugen erneuern",
            ),
            "thing": (
                "einen Akkuschrauber",
                "eine gute Wasserwaage",
                "eine Farbe fürs Bad",
                "ein Einsteiger-Werkzeugset",
            ),
            "step": (
                "die Kanten zuerst abkleben",
                "das Wasser am Eckventil abdrehen",
                "die Dichtung im Baumarkt mitnehmen und vergleichen",
                "spezielle Hohlraumdübel nehmen",
                "die alte Fuge komplett herausschneiden",
            ),
            "topic": ("Renovieren", "Sanitär", "Möbelbau", "Werkzeug"),
        },
        "en": {
            "how": (
                "paint a wall cleanly",
                "fix a dripping tap",
                "lay laminate flooring",
                "put anchors in drywall",
                "redo silicone joints",
            ),
            "thing": (
                "a cordless drill",
                "a good spirit level",
                "paint for the bathroom",
                "a starter tool kit",
            ),
            "step": (
                "tape the edges first",
                "shut off the water at the valve",
                "take the old washer to the shop to compare",
                "use proper hollow wall anchors",
                "cut the old joint out completely",
            ),
            "topic": ("renovating", "plumbing", "furniture building", "tools"),
        },
    },
}
THEME_NAMES = tuple(THEMES)

COMMON: dict[str, Vocab] = {
    "de": {
        "day": ("Samstag", "Sonntag", "Freitagabend", "nächste Woche", "morgen", "Mittwoch"),
        "activity": (
            "einen Kaffee",
            "ein kleines Treffen",
            "den Stammtisch",
            "eine Runde im Park",
            "einen Spieleabend",
            "eine Tour am See",
        ),
        "food": ("Brezeln", "Käsekuchen", "Pommes", "Gummibärchen", "Pizza", "Datteln"),
        "place": ("am Brunnen", "im Café am Markt", "am Bahnhof", "im Biergarten", "im Park"),
        "emoji": ("😄", "🙂", "😅", "☀️", "🎉", "🙌", "😎", "🍰"),
        "hello": ("Moin", "Hallo zusammen", "Guten Morgen", "Servus", "Hi", "Tach"),
        "n": ("2", "3", "5", "10", "15", "20", "30"),
    },
    "en": {
        "day": ("Saturday", "Sunday", "Friday night", "next week", "tomorrow", "Wednesday"),
        "activity": (
            "a coffee",
            "a small meetup",
            "the monthly get-together",
            "a walk in the park",
            "a board game night",
            "a ride along the lake",
        ),
        "food": ("pretzels", "cheesecake", "fries", "gummy bears", "pizza", "dates"),
        "place": ("by the fountain", "at the market café", "at the station", "in the park"),
        "emoji": ("😄", "🙂", "😅", "☀️", "🎉", "🙌", "😎", "🍰"),
        "hello": ("Hi all", "Morning everyone", "Hello", "Hey folks", "Hiya"),
        "n": ("2", "3", "5", "10", "15", "20", "30"),
    },
}

QUESTIONS: dict[str, tuple[str, ...]] = {
    "de": (
        "Wie kann ich am besten {how}?",
        "Hat jemand einen Tipp, wie ich {how} kann?",
        "{hello}! Kurze Frage: wie kann ich {how}? Ich komme da nicht weiter.",
        "Kann jemand {thing} empfehlen?",
        "Weiß jemand, ob es sich lohnt, {how}? Oder lieber machen lassen?",
        "Gibt es hier jemanden, der sich mit {topic} auskennt?",
        "Was nehmt ihr so, wenn ihr {thing} sucht? Budget ist eher klein.",
        "Ich will am {day} {how}. Worauf muss ich achten?",
    ),
    "en": (
        "What's the best way to {how}?",
        "Any tips on how to {how}?",
        "{hello}! Quick question: how do I {how}? I'm stuck.",
        "Can anyone recommend {thing}?",
        "Is it worth trying to {how} myself, or should I pay someone?",
        "Anyone here who knows a bit about {topic}?",
        "What do you use when you need {thing}? Budget is tight.",
        "Planning to {how} on {day}. Anything I should watch out for?",
    ),
}
QUESTION_SUFFIX = {"de": " Danke im Voraus!", "en": " Thanks in advance!"}

ANSWERS: dict[str, tuple[str, ...]] = {
    "de": (
        "Ich würde zuerst {step} und danach {step2}.",
        "Zuerst {step}, dann {step2} – so mache ich das immer.",
        "Bei mir hat es gereicht, {step}.",
        "Kommt drauf an. Meistens hilft es, {step}. Wenn nicht: {step2}.",
        "Ich hatte das gleiche Thema. Am Ende musste ich {step}, dann war alles gut.",
        "Für {topic} gibt es einen guten Trick: {step}.",
        "Ich kann dir {thing} empfehlen, hab ich seit zwei Jahren.",
        "Wichtig ist vor allem, {step}. Der Rest ergibt sich.",
    ),
    "en": (
        "I'd {step} first, then {step2}.",
        "First {step}, then {step2}. That's how I always do it.",
        "For me it was enough to {step}.",
        "Depends. Usually it helps to {step}. If not, {step2}.",
        "Had the same thing. In the end I had to {step} and it was fine.",
        "There's a neat trick for {topic}: {step}.",
        "I can recommend {thing}, had mine for two years.",
        "The main thing is to {step}. The rest follows.",
    ),
}

SMALLTALK: dict[str, tuple[str, ...]] = {
    "de": (
        "{hello}! Wie war euer Wochenende? {emoji}",
        "Hat jemand am {day} Lust auf {activity}?",
        "Bin dabei, wenn's passt. Treffpunkt {place}?",
        "Ich bringe {food} mit {emoji}",
        "Haha, das kenne ich nur zu gut {emoji}",
        "Klingt gut, ich schau mal, ob ich es schaffe.",
        "Was esst ihr eigentlich am liebsten unterwegs? Ich bin bei {food} hängen geblieben.",
        "Gerade {activity} gehabt, war richtig schön {emoji}",
        "Stimmt, sehe ich genauso.",
        "Ich hab heute endlich mal Zeit für {topic}.",
        "Kennt ihr das, wenn man eigentlich nur kurz was nachschauen will und dann ist es Abend?",
        "{hello}, ich bin neu hier und lese erstmal mit {emoji}",
        "Willkommen! Schön, dass du da bist.",
        "Ok, dann bis {day}!",
        "Guter Punkt. Darüber hab ich noch nie nachgedacht.",
        "Wer kommt denn alles {day} {place} vorbei?",
    ),
    "en": (
        "{hello}! How was your weekend? {emoji}",
        "Anyone up for {activity} on {day}?",
        "Count me in if it works out. Meet {place}?",
        "I'll bring {food} {emoji}",
        "Haha, I know that feeling {emoji}",
        "Sounds good, I'll see if I can make it.",
        "What do you all eat on long days out? I'm stuck on {food}.",
        "Just had {activity}, it was lovely {emoji}",
        "True, I see it the same way.",
        "Finally have some time for {topic} today.",
        "Ever just wanted to check one thing quickly and suddenly it's evening?",
        "{hello}, new here, mostly reading for now {emoji}",
        "Welcome! Glad you're here.",
        "Ok, see you {day}!",
        "Good point. Never thought about it that way.",
        "Who's coming {place} on {day}?",
    ),
}

THANKS_REPLY: dict[str, tuple[str, ...]] = {
    "de": (
        "Danke, das hat geholfen!",
        "Vielen Dank, {name}!",
        "Super, läuft jetzt! Danke dir 👍",
        "Danke dir, genau das war's.",
        "Tausend Dank {emoji}",
        "Merci, hat funktioniert!",
        "Hat geklappt, danke!",
        "Danke! Du hast mir den Tag gerettet.",
    ),
    "en": (
        "Thanks, that worked!",
        "Thank you {name}!",
        "Cheers, that fixed it 👍",
        "thx, exactly what I needed",
        "Thanks a lot {emoji}",
        "Much appreciated, {name} 🙏",
        "That did it, thank you!",
        "Thanks! You saved my day.",
    ),
}
THANKS_MENTION: dict[str, tuple[str, ...]] = {
    "de": (
        "Danke @{name}, hat geholfen!",
        "@{name} vielen Dank für den Tipp!",
        "Danke @{name} 🙏",
        "Großes Danke an @{name}, läuft wieder.",
    ),
    "en": (
        "Thanks @{name}, that helped!",
        "@{name} thank you for the tip!",
        "Thanks @{name} 🙏",
        "Big thanks to @{name}, it works again.",
    ),
}
THANKS_CONTEXT: dict[str, tuple[str, ...]] = {
    "de": ("Danke, das hat geholfen!", "Vielen Dank euch!", "Danke, jetzt klappt es!"),
    "en": ("Thanks, that helped!", "Thank you all!", "Thanks, works now!"),
}

COMPLAINTS: dict[str, dict[str, tuple[str, ...]]] = {
    "de": {
        "low": (
            "Die App stürzt beim Öffnen ab 😒",
            "Der Shop lädt bei mir nicht, ist die Seite down?",
            "Warte seit zwei Wochen auf meine Bestellung, keine Antwort vom Support.",
            "Die Synchronisierung funktioniert nicht mehr richtig.",
            "Das Update ist total verbuggt, nichts geht mehr.",
        ),
        "medium": (
            "Mir wurde die Bestellung doppelt abgebucht! Wann bekomme ich mein Geld zurück?",
            "Ich bin seit gestern aus meinem Konto ausgesperrt und der Support antwortet nicht.",
            "Schon wieder kaputt nach dem Update. Das ist jetzt das dritte Mal, unfassbar.",
            "Seit drei Wochen warte ich auf die Rückerstattung von 49 Euro.",
        ),
        "high": (
            "Der Akku von eurem Gerät ist aufgebläht und wird heiß, das ist gefährlich!",
            "Jemand hier belästigt mich seit Tagen per Privatnachricht.",
            "Nach eurem Update sind alle meine Fotos weg!",
            "Wenn das nicht geklärt wird, schalte ich einen Anwalt ein.",
        ),
    },
    "en": {
        "low": (
            "The app crashes when I open it 😒",
            "The shop isn't loading for me, is the site down?",
            "Still waiting for my order after two weeks, no reply from support.",
            "Sync stopped working properly.",
            "This update is so buggy, nothing works.",
        ),
        "medium": (
            "I got charged twice for my order! When do I get my money back?",
            "I've been locked out of my account since yesterday and support won't answer.",
            "Broken again after the update. That's the third time now, ridiculous.",
            "Been waiting three weeks for my refund of $49.",
        ),
        "high": (
            "The battery of your device is swollen and getting hot, this is dangerous!",
            "Someone here keeps harassing me in private messages.",
            "After your update all my photos are gone!",
            "If this isn't sorted out I'm getting a lawyer.",
        ),
    },
}

LINK_POSTS: dict[str, tuple[str, ...]] = {
    "de": (
        "Hier ist die Anleitung, die mir geholfen hat: {url}",
        "Guter Artikel zu {topic}: {url}",
        "Schau mal hier, da ist das gut erklärt: {url}",
        "Falls es jemanden interessiert, ich hab was über {topic} geschrieben: {url}",
    ),
    "en": (
        "Here's the guide that helped me: {url}",
        "Good read on {topic}: {url}",
        "Have a look here, it's explained well: {url}",
        "In case anyone's interested, I wrote something about {topic}: {url}",
    ),
}
LINK_HOSTS = ("example.org", "example.com", "example.net", "wiki.example.org", "blog.example.com")

PROMO_POSTS: dict[str, tuple[str, ...]] = {
    "de": (
        "🔥 Nur heute: {n} % Rabatt auf alle Kurse! Jetzt sichern: {url}",
        "Tritt meinem Kanal bei für tägliche Krypto-Signale 🚀🚀 {url}",
        "Verdiene bis zu 500 € am Tag von zu Hause! Infos hier 👉 {url}",
        "GRATIS Gewinnspiel!!! Jetzt mitmachen und iPhone gewinnen: {url}",
    ),
    "en": (
        "🔥 Today only: {n}% off every course! Grab it now: {url}",
        "Join my channel for daily crypto signals 🚀🚀 {url}",
        "Make up to $500 a day from home! Details here 👉 {url}",
        "FREE giveaway!!! Enter now and win an iPhone: {url}",
    ),
}

COMMANDS = ("/karma", "/karma", "/top", "/top week", "/karma why", "/help")
WEATHER = (
    "🌤️ Wetter heute: {n} °C, trocken, leichter Wind aus West.",
    "🌧️ Wetter heute: ab Mittag Regen, {n} °C. Schirm nicht vergessen.",
)
# Karma reactions and plain ones (the default reaction_emoji are 👍 🙏 ✅ ❤️ 🎉 ⭐).
REACTIONS = ("👍", "✅", "🙏", "❤️", "😂", "🔥", "👀", "😮")
REACTION_WEIGHTS = (40, 10, 10, 5, 15, 8, 7, 5)

FIRST_NAMES = (
    "anna", "bernd", "clara", "deniz", "emil", "finn", "greta", "hannes", "ida", "jonas",
    "kai", "lena", "mila", "nils", "ole", "paula", "quentin", "rosa", "sven", "tilda",
    "uwe", "vera", "wim", "xenia", "yusuf", "zoe", "amir", "bea", "chris", "dana",
    "elif", "felix", "gina", "hugo", "ines", "jule", "karl", "luca", "maya", "noah",
    "priya", "sam", "tom", "olivia", "james", "emma", "liam", "sophie", "ben", "grace",
)  # fmt: skip
LAST_NAMES = (
    "berger", "schmidt", "koch", "wagner", "becker", "hoffmann", "klein", "wolf", "neumann",
    "schwarz", "smith", "jones", "taylor", "brown", "wilson", "evans", "walker", "hughes",
    "yilmaz", "kowalski", "novak", "rossi", "garcia", "martin", "dubois", "jansen",
)  # fmt: skip
# Activity by hour of day (community time, roughly UTC+1): quiet nights, busy evenings.
HOURLY = (2, 1, 1, 1, 1, 2, 4, 7, 9, 10, 10, 11, 12, 11, 10, 10, 11, 12, 14, 15, 14, 11, 7, 4)


@dataclass(frozen=True, slots=True)
class SynthConfig:
    """What to generate: sizes, mix and time span. Shares are of all lines unless noted."""

    lines: int = 200_000
    members: int = 20_000
    chats: int = 20
    seed: int = 1
    # The stream name seeds the messages; members come from ``seed`` alone, so a second
    # stream (e.g. "live") talks with the same people under new message ids.
    stream: str = "history"
    id_prefix: str = ""
    start: datetime = datetime(2026, 9, 7, 6, 0, tzinfo=UTC)
    days: float = 42.0
    german_share: float = 0.6
    reaction_share: float = 0.14
    reaction_removed_share: float = 0.03  # of reactions
    command_share: float = 0.002
    # Of message lines. Answers are always replies and most thanks are, so reply_share
    # cannot go below about answer_share + 0.6 * thanks_share; small talk makes up the rest.
    reply_share: float = 0.30
    question_share: float = 0.16
    answer_share: float = 0.17
    thanks_share: float = 0.07
    complaint_share: float = 0.02
    link_share: float = 0.03
    promo_share: float = 0.01
    promoters: int = 6


@dataclass(slots=True)
class _Member:
    id: str
    name: str
    lang: str
    is_bot: bool = False

    def user(self) -> dict[str, Any]:
        user: dict[str, Any] = {"id": self.id, "name": self.name}
        if self.is_bot:
            user["is_bot"] = True
        return user


@dataclass(slots=True)
class _Posted:
    id: str
    author: int
    lang: str
    asker: int = -1  # for answers: who asked


class _Slots(dict[str, str]):
    """Template slots filled on first use, so only the slots a template names cost a draw."""

    def __init__(self, rng: random.Random, lang: str, theme: str, **fixed: str) -> None:
        super().__init__(fixed)
        self.rng = rng
        self.lang = lang
        self.theme = theme

    def __missing__(self, key: str) -> str:
        words = THEMES[self.theme][self.lang].get(key) or COMMON[self.lang].get(key)
        if key == "step2":
            first = self["step"]
            words = tuple(s for s in THEMES[self.theme][self.lang]["step"] if s != first)
        if not words:
            raise KeyError(key)
        value = self.rng.choice(words)
        self[key] = value
        return value


def _cumulative(weights: list[float]) -> list[float]:
    total = 0.0
    out = []
    for weight in weights:
        total += weight
        out.append(total)
    return out


def _members(config: SynthConfig) -> tuple[list[_Member], list[float], list[int]]:
    """Members, cumulative activity weights (a few post a lot) and the promoters."""
    rng = random.Random(f"{config.seed}:members")
    members: list[_Member] = [_Member("u0", "wetterbot", "de", is_bot=True)]
    seen: Counter[str] = Counter()
    for index in range(1, max(config.members, 3)):
        base = f"{rng.choice(FIRST_NAMES)}_{rng.choice(LAST_NAMES)}"
        seen[base] += 1
        name = base if seen[base] == 1 else f"{base}{seen[base]}"
        lang = "de" if rng.random() < config.german_share else "en"
        members.append(_Member(f"u{index}", name, lang))
    # Zipf-like: rank 1 posts ~100 times more than rank 1000. The weather bot (rank 0) posts
    # through its own small share; promoters post only adverts.
    count = min(config.promoters, max(0, len(members) - 2))
    promoters = sorted(rng.sample(range(len(members) // 2, len(members)), count))
    skip = {0, *promoters}
    weights = [0.0 if r in skip else 1.0 / (r + 8) ** 1.05 for r in range(len(members))]
    return members, _cumulative(weights), promoters


class _Generator:
    """The state of one generated stream: members, chats and what was said recently."""

    def __init__(self, config: SynthConfig) -> None:
        self.config = config
        self.rng = random.Random(f"{config.seed}:{config.stream}")
        self.members, self.activity, self.promoters = _members(config)
        self.chats = [f"c{i + 1:02d}" for i in range(config.chats)]
        self.themes = [THEME_NAMES[i % len(THEME_NAMES)] for i in range(config.chats)]
        # A few busy chats, a long tail of quiet ones.
        self.chat_weights = _cumulative([1.0 / (i + 2) for i in range(config.chats)])
        self.recent: list[deque[_Posted]] = [deque(maxlen=60) for _ in self.chats]
        self.questions: list[deque[_Posted]] = [deque(maxlen=25) for _ in self.chats]
        self.answers: list[deque[_Posted]] = [deque(maxlen=25) for _ in self.chats]
        self.reactions: deque[tuple[str, int, str, int]] = deque(maxlen=300)
        self.promo_urls = {p: self._promo_url(k, p) for k, p in enumerate(self.promoters)}
        self.pending: deque[tuple[dict[str, Any], str, str]] = deque()
        self.seconds = 0.0
        self.message_no = 0
        self.reaction_no = 0
        # Reply sources: answers always, thanks and links sometimes; small talk tops it up
        # to reply_share.
        self.thanks_reply_p, self.thanks_mention_p, self.link_reply_p = 0.6, 0.25, 0.3
        smalltalk = 1.0 - (
            config.question_share
            + config.answer_share
            + config.thanks_share
            + config.complaint_share
            + config.link_share
            + config.promo_share
        )
        self.smalltalk = max(1e-9, smalltalk)
        fixed = (
            config.answer_share
            + config.thanks_share * self.thanks_reply_p
            + config.link_share * self.link_reply_p
        )
        self.smalltalk_reply_p = min(1.0, max(0.0, (config.reply_share - fixed) / self.smalltalk))
        self.kinds = ("question", "answer", "thanks", "complaint", "link", "promo", "smalltalk")
        # A promo burst is about three lines, so bursts start a third as often.
        promo = config.promo_share / 3.0 if self.promoters else 0.0
        self.kind_weights = _cumulative(
            [
                config.question_share,
                config.answer_share,
                config.thanks_share,
                config.complaint_share,
                config.link_share,
                promo,
                self.smalltalk,
            ]
        )
        self.mean_gap = config.days * 86_400.0 / max(1, config.lines)
        self.mean_hourly = sum(HOURLY) / len(HOURLY)

    # --- drawing ---------------------------------------------------------------------

    def member(self) -> int:
        """An active member, drawn by activity."""
        return bisect.bisect_right(self.activity, self.rng.random() * self.activity[-1])

    def other_than(self, who: int, lang: str) -> int:
        """Someone else, preferably speaking ``lang``."""
        pick = self.member()
        for _ in range(6):
            if pick != who and self.members[pick].lang == lang:
                return pick
            pick = self.member()
        return pick if pick != who else self.member()

    def chat(self) -> int:
        """A chat, drawn by activity."""
        return bisect.bisect_right(self.chat_weights, self.rng.random() * self.chat_weights[-1])

    def recent_of(self, items: deque[_Posted], rate: float) -> _Posted:
        """A recent item, most likely the newest."""
        return items[-1 - min(int(self.rng.expovariate(rate)), len(items) - 1)]

    def stamp(self) -> str:
        """The current time as a JSONL time stamp."""
        at = self.config.start + timedelta(seconds=int(self.seconds))
        return at.strftime("%Y-%m-%dT%H:%M:%SZ")

    def _promo_url(self, k: int, promoter: int) -> str:
        code = "".join(self.rng.choice("abcdefghkmnpqrstuvwxyz23456789") for _ in range(7))
        handle = self.members[promoter].name.split("_")[0] + str(k)
        urls = (
            f"https://bit.ly/{code}",
            f"https://t.me/{handle}_deals",
            f"https://discord.gg/{code}",
            f"https://{handle}-profit.example.com/start",
        )
        return urls[k % len(urls)]

    def message(self, chat: int, author: int, text: str, **extra: Any) -> dict[str, Any]:
        """A message record with the next id."""
        self.message_no += 1
        record: dict[str, Any] = {
            "type": "message",
            "id": f"{self.config.id_prefix}m{self.message_no}",
            "chat": self.chats[chat],
            "author": self.members[author].user(),
            "ts": self.stamp(),
            "text": text,
        }
        record.update(extra)
        return record

    # --- lines -------------------------------------------------------------------------

    def lines(self) -> Iterator[tuple[dict[str, Any], str, str]]:
        """Records with their kind and language, in time order."""
        config = self.config
        rng = self.rng
        for _ in range(config.lines):
            hour = (int(self.seconds // 3600) + config.start.hour) % 24
            self.seconds += rng.expovariate(1.0) * self.mean_gap * self.mean_hourly / HOURLY[hour]
            if self.pending:
                record, kind, lang = self.pending.popleft()
                record["ts"] = self.stamp()
                yield record, kind, lang
                continue
            roll = rng.random()
            chat = self.chat()
            if roll < config.reaction_share and self.recent[chat]:
                yield self.reaction(chat)
            elif roll < config.reaction_share + config.command_share:
                author = self.member()
                text = rng.choice(COMMANDS)
                yield self.message(chat, author, text), "command", self.members[author].lang
            else:
                index = bisect.bisect_right(self.kind_weights, rng.random() * self.kind_weights[-1])
                yield self.post(chat, self.kinds[min(index, len(self.kinds) - 1)])

    def reaction(self, chat: int) -> tuple[dict[str, Any], str, str]:
        """A reaction to a recent message, now and then the removal of an earlier one."""
        rng = self.rng
        self.reaction_no += 1
        record: dict[str, Any] = {
            "type": "reaction",
            "id": f"{self.config.id_prefix}r{self.reaction_no}",
            "chat": "",
            "message_id": "",
            "user": {},
            "emoji": "",
            "ts": self.stamp(),
        }
        if self.reactions and rng.random() < self.config.reaction_removed_share:
            message_id, user, emoji, on_chat = self.reactions[rng.randrange(len(self.reactions))]
            record.update(
                chat=self.chats[on_chat],
                message_id=message_id,
                user=self.members[user].user(),
                emoji=emoji,
                removed=True,
            )
            return record, "reaction_removed", "-"
        target = self.recent_of(self.recent[chat], 0.25)
        user = self.other_than(target.author, target.lang)
        emoji = rng.choices(REACTIONS, REACTION_WEIGHTS)[0]
        self.reactions.append((target.id, user, emoji, chat))
        record.update(
            chat=self.chats[chat],
            message_id=target.id,
            user=self.members[user].user(),
            emoji=emoji,
        )
        return record, "reaction", "-"

    def post(self, chat: int, kind: str) -> tuple[dict[str, Any], str, str]:
        """A message of the given kind (small talk when the kind has nothing to refer to)."""
        rng = self.rng
        theme = self.themes[chat]
        author = self.member()
        if kind == "answer" and self.questions[chat]:
            return self.answer(chat, theme)
        if kind == "thanks" and self.answers[chat]:
            return self.thanks(chat, theme)
        if kind == "promo" and self.promoters:
            return self.promo(chat)
        if rng.random() < 0.004:
            text = rng.choice(WEATHER).format(n=rng.randrange(-3, 28))
            record = self.message(chat, 0, text)
            self.recent[chat].append(_Posted(record["id"], 0, "de"))
            return record, "bot", "de"
        lang = self.members[author].lang
        extra: dict[str, Any] = {}
        if kind == "complaint":
            severity = rng.choices(("low", "medium", "high"), (60, 30, 10))[0]
            text = rng.choice(COMPLAINTS[lang][severity])
            kind = f"complaint_{severity}"
        elif kind == "link":
            words = rng.choice(THEMES[theme]["en"]["how"]).lower().split()
            url = f"https://{rng.choice(LINK_HOSTS)}/{theme}/{'-'.join(words[-2:])}"
            text = rng.choice(LINK_POSTS[lang]).format_map(_Slots(rng, lang, theme, url=url))
            if self.questions[chat] and rng.random() < self.link_reply_p:
                extra["reply_to"] = self.questions[chat][-1].id
        elif kind == "question":
            text = rng.choice(QUESTIONS[lang]).format_map(_Slots(rng, lang, theme))
            if rng.random() < 0.12:
                text += QUESTION_SUFFIX[lang]
        else:
            kind = "smalltalk"
            text = rng.choice(SMALLTALK[lang]).format_map(_Slots(rng, lang, theme))
            if self.recent[chat] and rng.random() < self.smalltalk_reply_p:
                extra["reply_to"] = self.recent_of(self.recent[chat], 0.5).id
        record = self.message(chat, author, text, **extra)
        posted = _Posted(record["id"], author, lang)
        self.recent[chat].append(posted)
        if kind == "question":
            self.questions[chat].append(posted)
        return record, kind, lang

    def answer(self, chat: int, theme: str) -> tuple[dict[str, Any], str, str]:
        """A reply to a recent question by someone speaking its language."""
        question = self.recent_of(self.questions[chat], 0.3)
        author = self.other_than(question.author, question.lang)
        lang = question.lang
        text = self.rng.choice(ANSWERS[lang]).format_map(_Slots(self.rng, lang, theme))
        record = self.message(chat, author, text, reply_to=question.id)
        posted = _Posted(record["id"], author, lang, asker=question.author)
        self.answers[chat].append(posted)
        self.recent[chat].append(posted)
        return record, "answer", lang

    def thanks(self, chat: int, theme: str) -> tuple[dict[str, Any], str, str]:
        """The asker thanks an answer: by reply, by @mention or just afterwards."""
        rng = self.rng
        answer = self.recent_of(self.answers[chat], 0.3)
        thanker, lang = answer.asker, answer.lang
        receiver = self.members[answer.author]
        roll = rng.random()
        if roll < self.thanks_reply_p:
            kind = "thanks_reply"
            first = receiver.name.split("_")[0].title()
            slots = _Slots(rng, lang, theme, name=first)
            text = rng.choice(THANKS_REPLY[lang]).format_map(slots)
            record = self.message(chat, thanker, text, reply_to=answer.id)
        elif roll < self.thanks_reply_p + self.thanks_mention_p:
            kind = "thanks_mention"
            text = rng.choice(THANKS_MENTION[lang]).format(name=receiver.name)
            record = self.message(chat, thanker, text, mentions=[receiver.id])
        else:
            kind = "thanks_context"
            record = self.message(chat, thanker, rng.choice(THANKS_CONTEXT[lang]))
        self.recent[chat].append(_Posted(record["id"], thanker, lang))
        return record, kind, lang

    def promo(self, chat: int) -> tuple[dict[str, Any], str, str]:
        """An advert, cross-posted into one to three more chats within the next lines."""
        rng = self.rng
        promoter = rng.choice(self.promoters)
        lang = self.members[promoter].lang
        text = rng.choice(PROMO_POSTS[lang]).format(
            n=rng.choice((20, 30, 50, 70)), url=self.promo_urls[promoter]
        )
        others = [c for c in range(len(self.chats)) if c != chat]
        for other in rng.sample(others, min(rng.randint(1, 3), len(others))):
            self.pending.append((self.message(other, promoter, text), "promo", lang))
        return self.message(chat, promoter, text), "promo", lang


@dataclass
class SynthStats:
    """Counts of what was generated: lines by kind, replies, languages of messages."""

    lines: int = 0
    messages: int = 0
    replies: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    languages: Counter[str] = field(default_factory=Counter)

    def add(self, record: dict[str, Any], kind: str, lang: str) -> None:
        """Count one generated record."""
        self.lines += 1
        self.kinds[kind] += 1
        if record["type"] == "message":
            self.messages += 1
            self.languages[lang] += 1
            if "reply_to" in record:
                self.replies += 1


def labelled(config: SynthConfig) -> Iterator[tuple[dict[str, Any], str, str]]:
    """Records with what they are meant to be (e.g. "thanks_mention", "complaint_high") and
    their language ("de", "en"; "-" for reactions)."""
    return _Generator(config).lines()


def generate(config: SynthConfig, stats: SynthStats | None = None) -> Iterator[dict[str, Any]]:
    """Yield ``config.lines`` JSONL records in time order; counts them into ``stats``."""
    for record, kind, lang in _Generator(config).lines():
        if stats is not None:
            stats.add(record, kind, lang)
        yield record


def dumps(record: dict[str, Any]) -> str:
    """One JSONL line (compact, UTF-8 kept), without the newline."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def write_jsonl(path: Path, config: SynthConfig) -> SynthStats:
    """Stream the community into ``path`` and return what was generated."""
    stats = SynthStats()
    buffer: list[str] = []
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for record in generate(config, stats):
            buffer.append(dumps(record))
            if len(buffer) >= 2000:
                out.write("\n".join(buffer) + "\n")
                buffer.clear()
        if buffer:
            out.write("\n".join(buffer) + "\n")
    return stats


# --- a Telegram Desktop export of the same community -------------------------------------

# Telegram user ids of the members ("u17" becomes user 7000017).
TELEGRAM_USER_BASE = 7_000_000
FORWARD_SOURCES = ("Radkanal", "Tech-News", "Kochbuch Daily", "Garden Weekly", "Reise-Deals")
_ENTITY = re.compile(r"https?://\S+|@\w+")
_BOT_BUTTONS = [[{"type": "callback", "text": "🔄 Aktualisieren", "data": "refresh"}]]


@dataclass(frozen=True, slots=True)
class TelegramExportConfig:
    """A Telegram Desktop "Export chat history" (``result.json``) of the synthetic community.

    Its chats become one supergroup and its members Telegram users; the export is derived
    from the same records as the JSONL, so the same config and seed give the same bytes.
    """

    messages: int = 20_000  # entries of the export's "messages" list, service joins included
    # The members, seed and mix; its ``lines`` per day set how dense the export is (the
    # export covers fewer days when it has fewer lines).
    community: SynthConfig = SynthConfig()
    name: str = "Synthetische Community"
    export_id: int = 2_222_222_222
    timezone: str = "Europe/Berlin"  # of the exporting desktop: "date" is local time
    join_share: float = 0.3  # of members: a "joined by link" before their first message
    bold_share: float = 0.05  # of plain texts: written as an entity list with a bold word
    forwarded_share: float = 0.03  # of small talk and link posts
    edited_share: float = 0.02  # of messages
    hidden_share: float = 0.1  # of reactions: one more giver counted than listed
    recent_limit: int = 3  # givers "recent" lists per emoji; "count" has them all
    # Messages kept back for the reactions that come after them; a reaction to an older
    # message is left out (it is counted in the stats).
    window: int = 2_000


@dataclass
class TelegramExportStats:
    """What an export holds: its entries by kind and the reactions it lists."""

    messages: int = 0  # entries of the "messages" list
    posts: int = 0  # entries a replay imports as messages
    joins: int = 0  # service entries "join_group_by_link"
    commands: int = 0  # bot commands (not replayed)
    bot_posts: int = 0  # messages with inline buttons: a bot's (ignored)
    replies: int = 0
    entity_texts: int = 0  # texts written as a list of strings and entities
    forwarded: int = 0
    edited: int = 0  # imported messages marked as edited
    # On messages a replay imports (a bot's or a command's reactions are not replayed):
    reactions: int = 0  # givers listed under "recent": one reaction event each
    unattributed: int = 0  # counted under "count" but not listed
    late_reactions: int = 0  # to a message already written, left out
    bytes: int = 0


class _TelegramExport:
    """Turns the community's records into export entries and writes them in order."""

    def __init__(self, config: TelegramExportConfig, out: IO[str]) -> None:
        self.config = config
        self.out = out
        self.rng = random.Random(f"{config.community.seed}:telegram")
        self.zone = ZoneInfo(config.timezone)
        self.stats = TelegramExportStats()
        self.number = 0
        # Entries not yet written (reactions may still come) and their synthetic ids.
        self.held: dict[str, dict[str, Any]] = {}
        self.order: deque[str] = deque()
        self.silent: set[str] = set()  # held entries a replay does not import as messages
        # Export ids of recent synthetic ids, for replies (old ones are forgotten).
        self.ids: dict[str, int] = {}
        self.id_order: deque[str] = deque()
        self.joined: set[str] = set()
        self.separator = "\n  "

    # --- entries ---------------------------------------------------------------------

    def add(self, record: dict[str, Any], kind: str) -> None:
        """Add one record: a message (perhaps after a join) or a reaction."""
        if record["type"] == "reaction":
            self.react(record)
            return
        at = datetime.fromisoformat(record["ts"])
        author = record["author"]
        user, name = _telegram_user(author), _display(author["name"])
        if (
            author["id"] not in self.joined
            and not author.get("is_bot")
            and self.config.messages - self.number >= 2
        ):
            self.joined.add(author["id"])
            if self.rng.random() < self.config.join_share:
                key = f"join:{record['id']}"
                self.hold(key, self.join(at, user, name))
                self.silent.add(key)
        self.hold(record["id"], self.message(record, kind, at, user, name))
        if kind in ("bot", "command"):
            self.silent.add(record["id"])

    def head(self, at: datetime) -> dict[str, Any]:
        self.number += 1
        self.stats.messages += 1
        return {
            "id": self.number,
            "type": "message",
            "date": self.local(at),
            "date_unixtime": str(int(at.timestamp())),
        }

    def local(self, at: datetime) -> str:
        return at.astimezone(self.zone).replace(tzinfo=None).isoformat(timespec="seconds")

    def join(self, at: datetime, user: str, name: str) -> dict[str, Any]:
        entry = self.head(at)
        entry.update(
            type="service",
            actor=name,
            actor_id=user,
            action="join_group_by_link",
            inviter="Group",
            text="",
            text_entities=[],
        )
        self.stats.joins += 1
        return entry

    def message(
        self, record: dict[str, Any], kind: str, at: datetime, user: str, name: str
    ) -> dict[str, Any]:
        rng, config, stats = self.rng, self.config, self.stats
        entry = self.head(at)
        if rng.random() < config.edited_share:
            edited = at + timedelta(seconds=rng.randrange(30, 900))
            entry["edited"] = self.local(edited)
            entry["edited_unixtime"] = str(int(edited.timestamp()))
            stats.edited += int(kind not in ("bot", "command"))
        entry["from"], entry["from_id"] = name, user
        if kind in ("smalltalk", "link") and rng.random() < config.forwarded_share:
            entry["forwarded_from"] = rng.choice(FORWARD_SOURCES)
            stats.forwarded += 1
        target = self.ids.get(record.get("reply_to") or "")
        if target is not None:
            entry["reply_to_message_id"] = target
            stats.replies += 1
        if kind == "bot":
            entry["inline_bot_buttons"] = _BOT_BUTTONS
            stats.bot_posts += 1
        elif kind == "command":
            stats.commands += 1
        else:
            stats.posts += 1
        parts = self.parts(record, kind)
        if parts is None:
            entry["text"] = record["text"]
            entry["text_entities"] = [{"type": "plain", "text": record["text"]}]
        else:
            stats.entity_texts += 1
            entry["text"] = parts
            entry["text_entities"] = [
                {"type": "plain", "text": p} if isinstance(p, str) else p for p in parts
            ]
        self.ids[record["id"]] = self.number
        self.id_order.append(record["id"])
        if len(self.id_order) > 10 * config.window:
            self.ids.pop(self.id_order.popleft(), None)
        return entry

    def parts(self, record: dict[str, Any], kind: str) -> list[Any] | None:
        """The text as Telegram Desktop writes one with entities, or None for a string."""
        text: str = record["text"]
        if kind == "command":
            command, _, rest = text.partition(" ")
            return [{"type": "bot_command", "text": command}, *([f" {rest}"] if rest else [])]
        found = list(_ENTITY.finditer(text))
        if not found:
            if self.rng.random() >= self.config.bold_share or " " not in text:
                return None
            first, _, rest = text.partition(" ")
            return [{"type": "bold", "text": first}, f" {rest}"]
        # A thanks by @mention names one member: half of them as a mention by name (a
        # member without a username), which carries the user id.
        mentions = record.get("mentions", ())
        by_name = len(mentions) == 1 and self.rng.random() < 0.5
        parts: list[Any] = []
        end = 0
        for match in found:
            if match.start() > end:
                parts.append(text[end : match.start()])
            value = match.group()
            if not value.startswith("@"):
                parts.append({"type": "link", "text": value})
            elif by_name:
                user = _telegram_id(mentions[0])
                parts.append({"type": "mention_name", "text": _display(value[1:]), "user_id": user})
            else:
                parts.append({"type": "mention", "text": value})
            end = match.end()
        if end < len(text):
            parts.append(text[end:])
        return parts

    def react(self, record: dict[str, Any]) -> None:
        """Apply a reaction (or its removal) to the held message: an export shows each
        message's reactions as they were when it was made, not when they were given."""
        entry = self.held.get(record["message_id"])
        if entry is None:
            self.stats.late_reactions += 1
            return
        user = _telegram_user(record["user"])
        reactions: list[dict[str, Any]] = entry.setdefault("reactions", [])
        emoji = record["emoji"]
        reaction = next((r for r in reactions if r["emoji"] == emoji), None)
        if reaction is None:
            reaction = {"type": "emoji", "count": 0, "emoji": emoji, "recent": []}
            reactions.append(reaction)
        recent: list[dict[str, Any]] = reaction["recent"]
        listed = next((g for g in recent if g["from_id"] == user), None)
        if record.get("removed"):
            if listed is not None:
                recent.remove(listed)
                reaction["count"] -= 1
                if reaction["count"] <= 0:
                    reactions.remove(reaction)
                    if not reactions:
                        del entry["reactions"]
            return
        if listed is not None:
            return  # one reaction per member and emoji
        reaction["count"] += 2 if self.rng.random() < self.config.hidden_share else 1
        at = datetime.fromisoformat(record["ts"])
        giver = {"from": _display(record["user"]["name"]), "from_id": user, "date": self.local(at)}
        recent.insert(0, giver)  # the newest first
        del recent[self.config.recent_limit :]

    # --- writing ---------------------------------------------------------------------

    def hold(self, key: str, entry: dict[str, Any]) -> None:
        self.held[key] = entry
        self.order.append(key)
        while len(self.order) > self.config.window:
            self.write(self.order.popleft())

    def write(self, key: str) -> None:
        entry = self.held.pop(key)
        if key in self.silent:
            self.silent.discard(key)
        else:
            for reaction in entry.get("reactions", ()):
                self.stats.reactions += len(reaction["recent"])
                self.stats.unattributed += reaction["count"] - len(reaction["recent"])
        # One entry at a time: the file object buffers, and a batch of entries would be the
        # biggest thing in memory (a text with an emoji takes four bytes a character).
        self.out.write(self.separator)
        self.out.write(json.dumps(entry, ensure_ascii=False))
        self.separator = ",\n  "

    def begin(self) -> None:
        config = self.config
        self.out.write(
            "{\n"
            f' "name": {json.dumps(config.name, ensure_ascii=False)},\n'
            ' "type": "private_supergroup",\n'
            f' "id": {config.export_id},\n'
            ' "messages": ['
        )

    def end(self) -> None:
        while self.order:
            self.write(self.order.popleft())
        self.out.write("\n ]\n}\n")


def _telegram_id(member: str) -> int:
    """The Telegram user id of a member (``u17`` -> 7000017)."""
    return TELEGRAM_USER_BASE + int(member[1:])


def _telegram_user(user: dict[str, Any]) -> str:
    """The export's ``from_id`` of a member (``user7000017``)."""
    return f"user{_telegram_id(user['id'])}"


def _display(name: str) -> str:
    """A display name from a member name (``anna_berger`` -> ``Anna Berger``)."""
    return name.replace("_", " ").title()


def write_telegram_export(path: Path, config: TelegramExportConfig) -> TelegramExportStats:
    """Stream the community into ``path`` as a Telegram Desktop export; says what it holds.

    Entries are written as they are made; only the last ``config.window`` messages wait in
    memory for their reactions. ``stats.messages`` is ``config.messages`` unless the
    community's records ran out first.
    """
    community = config.community
    # Enough records for ``messages`` entries: reactions make no entry of their own.
    lines = int(config.messages / (1.0 - community.reaction_share) * 1.05) + 100
    # As busy as the community: a small export spread over weeks would be mostly quiet
    # hours, and a replay runs scheduled work at every hour the history crosses.
    days = community.days * min(1.0, lines / max(1, community.lines))
    source = labelled(replace(community, lines=lines, days=days))
    with path.open("w", encoding="utf-8", newline="\n") as out:
        export = _TelegramExport(config, out)
        export.begin()
        for record, kind, _lang in source:
            if export.number >= config.messages and record["type"] == "message":
                break
            export.add(record, kind)
        export.end()
    export.stats.bytes = path.stat().st_size
    return export.stats
