"""The one translation table of the web pages: every text, in English and German.

Keys are dotted names; `Translator(locale)` looks them up and fills `{placeholders}`.
A locale the table does not have falls back to English (`pick`). A unit test checks that
every key has both languages and that every enum value the pages show has its key.
"""

from __future__ import annotations

from typing import Final

LOCALES: Final = ("en", "de")
DEFAULT: Final = "en"

TABLE: Final[dict[str, dict[str, str]]] = {
    "app.name": {"en": "DeviceCare", "de": "DeviceCare"},
    "app.skip": {"en": "Skip to content", "de": "Zum Inhalt springen"},
    "yes": {"en": "yes", "de": "ja"},
    "no": {"en": "no", "de": "nein"},
    # the owner's page
    "care.title": {"en": "Your devices", "de": "Ihre Geräte"},
    "care.hello": {
        "en": "Hello {name}, here is how your devices are doing",
        "de": "Hallo {name}, so geht es Ihren Geräten",
    },
    "care.device": {"en": "Device", "de": "Gerät"},
    "care.no_devices": {
        "en": "No devices are registered to you.",
        "de": "Auf Sie ist kein Gerät registriert.",
    },
    "care.health": {"en": "Health", "de": "Zustand"},
    "care.offers": {"en": "Offers", "de": "Angebote"},
    "care.no_offers": {"en": "No offers at the moment.", "de": "Zurzeit keine Angebote."},
    "care.steps": {"en": "What you can do yourself:", "de": "Was Sie selbst tun können:"},
    "care.status": {"en": "Status", "de": "Status"},
    "care.phone": {"en": "Phone number for the call-back", "de": "Telefonnummer für den Rückruf"},
    "care.slot": {"en": "Time for your store visit", "de": "Termin für den Shop-Besuch"},
    "care.comment": {"en": "Comment (optional)", "de": "Kommentar (freiwillig)"},
    "care.consent": {"en": "Your consent", "de": "Ihre Einwilligung"},
    "care.consent_legend": {"en": "DeviceCare may:", "de": "DeviceCare darf:"},
    "care.save": {"en": "Save consent", "de": "Einwilligung speichern"},
    "care.problem": {"en": "I have a problem", "de": "Ich habe ein Problem"},
    "care.complaint": {"en": "What is the problem?", "de": "Was ist das Problem?"},
    "care.describe": {
        "en": "Describe it in your words (optional)",
        "de": "Beschreiben Sie es mit Ihren Worten (freiwillig)",
    },
    "care.check": {"en": "Check my device", "de": "Mein Gerät prüfen"},
    "care.next.fault": {
        "en": "This looks like a fault of the device. Next step: book a free store"
        " diagnostic, or call us; we already see what you described.",
        "de": "Das sieht nach einem Defekt des Geräts aus. Nächster Schritt: eine kostenlose"
        " Diagnose im Shop buchen oder uns anrufen; wir sehen bereits, was Sie beschrieben"
        " haben.",
    },
    "care.next.self_help": {
        "en": "Your device looks fine: this can usually be solved without a repair.",
        "de": "Ihr Gerät scheint in Ordnung: Das lässt sich meist ohne Reparatur lösen.",
    },
    "health.normal": {"en": "This is normal.", "de": "Das ist normal."},
    "health.not_normal": {"en": "This is not normal.", "de": "Das ist nicht normal."},
    "health.below_cohort": {
        "en": "It is lower than in {share}% of devices of the same model.",
        "de": "Er ist niedriger als bei {share} % der Geräte desselben Modells.",
    },
    "console.consent": {"en": "The owner's consent", "de": "Einwilligung des Besitzers"},
    "health.unknown": {"en": "Not measured yet.", "de": "Noch nicht gemessen."},
    "health.cohort": {
        "en": "Devices of the same model: {median}.",
        "de": "Geräte desselben Modells: {median}.",
    },
    "fig.battery_health_pct": {"en": "Battery health", "de": "Akkuzustand"},
    "fig.battery_temp_c": {"en": "Battery temperature", "de": "Akkutemperatur"},
    "fig.storage_free_pct": {"en": "Free storage", "de": "Freier Speicher"},
    "fig.crashes": {"en": "App crashes (7 days)", "de": "App-Abstürze (7 Tage)"},
    "explain.battery_health_pct": {
        "en": "Above 80% of its original capacity is normal.",
        "de": "Über 80 % der ursprünglichen Kapazität ist normal.",
    },
    "explain.battery_temp_c": {
        "en": "Up to 40 °C is normal; hotter wears the battery.",
        "de": "Bis 40 °C ist normal; wärmer schadet dem Akku.",
    },
    "explain.storage_free_pct": {
        "en": "Keep at least 10% free, or apps slow down and updates fail.",
        "de": "Halten Sie mindestens 10 % frei, sonst werden Apps langsam und Updates scheitern.",
    },
    "explain.crashes": {
        "en": "Up to 3 a week is normal; more points to an app or an update.",
        "de": "Bis zu 3 pro Woche sind normal; mehr deutet auf eine App oder ein Update hin.",
    },
    "steps.default": {
        "en": "Restart the device and install the latest updates.",
        "de": "Starten Sie das Gerät neu und installieren Sie die neuesten Updates.",
    },
    "steps.battery_fade": {
        "en": "Avoid charging overnight in a warm place; turn on optimised charging.",
        "de": "Laden Sie nicht über Nacht an warmen Orten; schalten Sie optimiertes Laden ein.",
    },
    "steps.battery_swelling": {
        "en": "Stop charging the device and keep it away from heat.",
        "de": "Laden Sie das Gerät nicht mehr und halten Sie es von Wärme fern.",
    },
    "steps.battery_bad_cell": {
        "en": "Keep the charge between 20% and 80% until the battery is checked.",
        "de": "Halten Sie die Ladung zwischen 20 % und 80 %, bis der Akku geprüft ist.",
    },
    "steps.cooling_failure": {
        "en": "Remove the case, close heavy apps and keep the device out of the sun.",
        "de": "Nehmen Sie die Hülle ab, schließen Sie aufwendige Apps und meiden Sie die Sonne.",
    },
    "steps.faulty_charger": {
        "en": "Try another cable and charger.",
        "de": "Versuchen Sie ein anderes Kabel und Ladegerät.",
    },
    "steps.crash_loop": {
        "en": "Update the app that crashes, or reinstall it.",
        "de": "Aktualisieren Sie die abstürzende App oder installieren Sie sie neu.",
    },
    "steps.kernel_fault": {
        "en": "Install the latest system update and restart.",
        "de": "Installieren Sie das neueste Systemupdate und starten Sie neu.",
    },
    "steps.storage_runaway": {
        "en": "Clear the cache of the app that grows, and delete old downloads.",
        "de": "Leeren Sie den Cache der wachsenden App und löschen Sie alte Downloads.",
    },
    "steps.flash_eol": {
        "en": "Back up your data now.",
        "de": "Sichern Sie jetzt Ihre Daten.",
    },
    "consent.telemetry": {
        "en": "collect health data from the device",
        "de": "Zustandsdaten vom Gerät erfassen",
    },
    "consent.care_offers": {"en": "send me care offers", "de": "mir Service-Angebote senden"},
    "consent.email": {"en": "write to me by e-mail", "de": "mir per E-Mail schreiben"},
    "answer.accept": {"en": "Yes, please", "de": "Ja, gerne"},
    "answer.dismiss": {"en": "No, thanks", "de": "Nein, danke"},
    "answer.wrong": {"en": "This was wrong", "de": "Das stimmt nicht"},
    "status.created": {"en": "new", "de": "neu"},
    "status.sent": {"en": "sent", "de": "gesendet"},
    "status.delivered": {"en": "delivered", "de": "zugestellt"},
    "status.viewed": {"en": "seen", "de": "angesehen"},
    "status.accepted": {"en": "accepted", "de": "angenommen"},
    "status.declined": {"en": "declined", "de": "abgelehnt"},
    "status.expired": {"en": "expired", "de": "abgelaufen"},
    "status.resolved": {"en": "resolved", "de": "erledigt"},
    "complaint.battery": {
        "en": "The battery runs out too fast",
        "de": "Der Akku ist zu schnell leer",
    },
    "complaint.heat": {"en": "It gets hot", "de": "Es wird heiß"},
    "complaint.storage": {"en": "The storage is full", "de": "Der Speicher ist voll"},
    "complaint.crashes": {
        "en": "Apps crash or it restarts",
        "de": "Apps stürzen ab oder es startet neu",
    },
    "complaint.other": {"en": "Something else", "de": "Etwas anderes"},
    "verdict.confirmed_fault": {
        "en": "Fault confirmed: repair",
        "de": "Defekt bestätigt: Reparatur",
    },
    "verdict.likely_fault_test_first": {
        "en": "Likely a fault: test first",
        "de": "Wahrscheinlich ein Defekt: erst testen",
    },
    "verdict.no_fault_usage": {
        "en": "No fault: explained by use",
        "de": "Kein Defekt: durch die Nutzung erklärt",
    },
    "verdict.no_fault_software": {
        "en": "No fault: an app or the software",
        "de": "Kein Defekt: eine App oder die Software",
    },
    "verdict.cohort_issue": {
        "en": "Known issue of this model",
        "de": "Bekanntes Problem dieses Modells",
    },
    "verdict.insufficient_data": {
        "en": "Not enough data to say",
        "de": "Zu wenige Daten für eine Aussage",
    },
    "done.answered": {
        "en": "Thank you, your answer is recorded.",
        "de": "Danke, Ihre Antwort ist gespeichert.",
    },
    "done.closed": {
        "en": "This offer is already closed.",
        "de": "Dieses Angebot ist bereits beendet.",
    },
    "done.consent": {"en": "Your consent is saved.", "de": "Ihre Einwilligung ist gespeichert."},
    "done.recorded": {"en": "The contact is recorded.", "de": "Der Kontakt ist gespeichert."},
    "error.answer": {"en": "Please choose an answer.", "de": "Bitte wählen Sie eine Antwort."},
    "error.phone": {
        "en": "Please give a phone number (digits, up to 30 characters).",
        "de": "Bitte geben Sie eine Telefonnummer an (Ziffern, bis 30 Zeichen).",
    },
    "error.slot": {
        "en": "Please pick one of the offered times.",
        "de": "Bitte wählen Sie einen der angebotenen Termine.",
    },
    "error.too_long": {
        "en": "The text is too long (at most 2000 characters).",
        "de": "Der Text ist zu lang (höchstens 2000 Zeichen).",
    },
    "error.comment_too_long": {
        "en": "The comment is too long (at most 500 characters).",
        "de": "Der Kommentar ist zu lang (höchstens 500 Zeichen).",
    },
    "error.complaint": {
        "en": "Please choose what the problem is.",
        "de": "Bitte wählen Sie, was das Problem ist.",
    },
    "error.triage": {
        "en": "The complaint could not be checked: choose a complaint and keep"
        " the text under 2000 characters.",
        "de": "Die Beschwerde konnte nicht geprüft werden: Wählen Sie eine"
        " Beschwerde und bleiben Sie unter 2000 Zeichen.",
    },
    "error.interaction": {
        "en": "The contact was not saved: a summary of 1 to 2000 characters is needed.",
        "de": "Der Kontakt wurde nicht gespeichert: Eine Zusammenfassung"
        " von 1 bis 2000 Zeichen ist nötig.",
    },
    "error.not_found": {"en": "No such device.", "de": "Kein solches Gerät."},
    "msg.expired.title": {
        "en": "This link is no longer valid",
        "de": "Dieser Link ist nicht mehr gültig",
    },
    "msg.expired.body": {
        "en": "The link has expired or was changed. Nothing was changed."
        " Please open the latest message from us, or call the hotline.",
        "de": "Der Link ist abgelaufen oder wurde verändert. Es wurde nichts"
        " geändert. Bitte öffnen Sie unsere neueste Nachricht oder rufen"
        " Sie die Hotline an.",
    },
    "msg.no_session.title": {
        "en": "Please open your personal link",
        "de": "Bitte öffnen Sie Ihren persönlichen Link",
    },
    "msg.no_session.body": {
        "en": "Open the link in a message from us to see your devices.",
        "de": "Öffnen Sie den Link in einer Nachricht von uns, um Ihre Geräte zu sehen.",
    },
    "msg.not_found.title": {"en": "Not found", "de": "Nicht gefunden"},
    "msg.not_found.body": {
        "en": "There is nothing here for you.",
        "de": "Hier gibt es nichts für Sie.",
    },
    # the support console
    "login.title": {"en": "Support console: sign in", "de": "Support-Konsole: Anmelden"},
    "login.key": {"en": "API key", "de": "API-Schlüssel"},
    "login.submit": {"en": "Sign in", "de": "Anmelden"},
    "login.refused": {
        "en": "This key is unknown, revoked, or not a support key.",
        "de": "Dieser Schlüssel ist unbekannt, widerrufen oder kein Support-Schlüssel.",
    },
    "console.title": {"en": "Support console", "de": "Support-Konsole"},
    "console.nav": {"en": "Console", "de": "Konsole"},
    "console.search": {"en": "Customer, e-mail or device", "de": "Kunde, E-Mail oder Gerät"},
    "console.find": {"en": "Search", "de": "Suchen"},
    "console.logout": {"en": "Sign out", "de": "Abmelden"},
    "console.signed_in": {"en": "Signed in as {name}.", "de": "Angemeldet als {name}."},
    "console.results": {"en": "Results for “{q}”", "de": "Ergebnisse für „{q}“"},
    "console.nothing": {"en": "Nothing found.", "de": "Nichts gefunden."},
    "console.customer": {"en": "Customer", "de": "Kunde"},
    "console.email": {"en": "E-mail", "de": "E-Mail"},
    "console.device": {"en": "Device", "de": "Gerät"},
    "console.owner": {"en": "Owner", "de": "Besitzer"},
    "console.health": {"en": "Health against the cohort", "de": "Zustand im Vergleich"},
    "console.cohort_size": {
        "en": "Cohort (same model and OS version): {n} devices.",
        "de": "Vergleichsgruppe (gleiches Modell und OS): {n} Geräte.",
    },
    "console.figure": {"en": "Figure", "de": "Kennzahl"},
    "console.value": {"en": "Last 7 days", "de": "Letzte 7 Tage"},
    "console.vs_cohort": {"en": "Against the cohort", "de": "Im Vergleich"},
    "console.over_time": {"en": "Last {days} days", "de": "Letzte {days} Tage"},
    "console.percentile": {"en": "{p}th percentile", "de": "{p}. Perzentil"},
    "console.triage": {
        "en": "Triage the caller's complaint",
        "de": "Beschwerde des Anrufers prüfen",
    },
    "console.touchpoint": {"en": "Touch point", "de": "Kontaktweg"},
    "console.caller_says": {"en": "What the caller says", "de": "Was der Anrufer sagt"},
    "console.run_triage": {"en": "Run triage", "de": "Prüfen"},
    "console.record": {"en": "Record a contact", "de": "Kontakt erfassen"},
    "console.kind": {"en": "Kind of contact", "de": "Art des Kontakts"},
    "console.summary": {"en": "Summary", "de": "Zusammenfassung"},
    "console.save_contact": {"en": "Save contact", "de": "Kontakt speichern"},
    "console.filter": {"en": "Filter the timeline", "de": "Verlauf filtern"},
    "console.touchpoints": {"en": "Touch points", "de": "Kontaktwege"},
    "console.apply": {"en": "Apply filter", "de": "Filter anwenden"},
    "console.timeline": {"en": "Timeline", "de": "Verlauf"},
    "console.empty_timeline": {"en": "Nothing recorded yet.", "de": "Noch nichts erfasst."},
    "console.offer": {"en": "Offer", "de": "Angebot"},
    "console.action": {"en": "Action", "de": "Aktion"},
    "console.resend": {"en": "Resend link", "de": "Link erneut senden"},
    "console.resent": {
        "en": "Give the owner this link:",
        "de": "Geben Sie dem Besitzer diesen Link:",
    },
    "kind.call": {"en": "Call", "de": "Anruf"},
    "kind.store_visit": {"en": "Store visit", "de": "Shop-Besuch"},
    "kind.note": {"en": "Note", "de": "Notiz"},
    "tp.device_app": {"en": "Device app", "de": "Geräte-App"},
    "tp.web": {"en": "Web", "de": "Web"},
    "tp.hotline": {"en": "Hotline", "de": "Hotline"},
    "tp.store": {"en": "Store", "de": "Shop"},
    "tp.email": {"en": "E-mail", "de": "E-Mail"},
    "tp.system": {"en": "System", "de": "System"},
}


def pick(locale: str | None) -> str:
    """The table's locale for a customer's or a browser's locale (`de-AT` -> `de`)."""
    short = (locale or "").lower()[:2]
    return short if short in LOCALES else DEFAULT


class Translator:
    """`t(key, **values)` in one locale; an unknown key is a bug (KeyError)."""

    def __init__(self, locale: str) -> None:
        self.locale = locale

    def __call__(self, key: str, **values: object) -> str:
        text = TABLE[key][self.locale]
        return text.format(**values) if values else text

    def __contains__(self, key: object) -> bool:
        return key in TABLE


def translator(locale: str | None) -> Translator:
    return Translator(pick(locale))
