"""The text of the sample domain set: a cardiology clinic, spoken in en, de, es, fr and ja.

Each entry: (sentence, keywords in it, English translation or None, {target: translation} for English).
Sentences 0-4 are train, 5 dev, 6-7 test, in every language.
"""

KEYWORDS = {
    "en": [
        "metoprolol",
        "echocardiogram",
        "electrocardiogram",
        "atrial fibrillation",
        "coronary angiography",
        "atorvastatin",
        "troponin",
        "hypertension",
        "mitral valve",
        "warfarin",
        "apixaban",
        "myocardial ischemia",
    ],
    "de": [
        "Herzinfarkt",
        "Stent",
        "Elektrokardiogramm",
        "Vorhofflimmern",
        "Ramipril",
        "Blutdruck",
        "Echokardiographie",
        "Mitralinsuffizienz",
        "Bisoprolol",
        "Troponinwert",
        "Koronarangiographie",
    ],
    "fr": [
        "bisoprolol",
        "échographie cardiaque",
        "fraction d'éjection",
        "aspirine",
        "électrocardiogramme",
        "fibrillation auriculaire",
        "tension artérielle",
        "cardiologue",
        "coronarographie",
        "insuffisance cardiaque",
        "troponine",
    ],
    "es": [
        "atorvastatina",
        "electrocardiograma",
        "taquicardia sinusal",
        "ecocardiograma",
        "enalapril",
        "infarto de miocardio",
        "clopidogrel",
        "prueba de esfuerzo",
        "cateterismo cardíaco",
    ],
    "ja": [
        "心電図",
        "血圧",
        "心房細動",
        "抗凝固薬",
        "心臓カテーテル検査",
        "心エコー",
        "アスピリン",
        "心不全",
        "コレステロール",
    ],
}

SENTENCES = {
    "en": [
        (
            "The patient was started on metoprolol after the echocardiogram.",
            ["metoprolol", "echocardiogram"],
            None,
            {
                "de": "Nach dem Echokardiogramm wurde der Patient auf Metoprolol eingestellt.",
                "fr": "Le patient a commencé le métoprolol après l'échocardiogramme.",
                "es": "El paciente empezó a tomar metoprolol después del ecocardiograma.",
                "it": "Il paziente ha iniziato il metoprololo dopo l'ecocardiogramma.",
            },
        ),
        (
            "An electrocardiogram showed atrial fibrillation with a rapid ventricular response.",
            ["electrocardiogram", "atrial fibrillation"],
            None,
            {
                "de": "Ein Elektrokardiogramm zeigte Vorhofflimmern mit schneller Kammerfrequenz.",
                "fr": (
                    "Un électrocardiogramme a montré une fibrillation auriculaire avec une réponse "
                    "ventriculaire rapide."
                ),
                "es": "Un electrocardiograma mostró fibrilación auricular con respuesta ventricular rápida.",
                "it": "Un elettrocardiogramma ha mostrato fibrillazione atriale con risposta ventricolare rapida.",
            },
        ),
        (
            "We will schedule a coronary angiography for next Tuesday.",
            ["coronary angiography"],
            None,
            {
                "de": "Wir planen eine Koronarangiographie für nächsten Dienstag.",
                "fr": "Nous allons programmer une coronarographie pour mardi prochain.",
                "es": "Programaremos una angiografía coronaria para el próximo martes.",
                "it": "Programmeremo una coronarografia per martedì prossimo.",
            },
        ),
        (
            "Continue atorvastatin forty milligrams once daily.",
            ["atorvastatin"],
            None,
            {
                "de": "Atorvastatin vierzig Milligramm einmal täglich weiter einnehmen.",
                "fr": "Continuer l'atorvastatine quarante milligrammes une fois par jour.",
                "es": "Continúe con atorvastatina cuarenta miligramos una vez al día.",
                "it": "Continuare l'atorvastatina quaranta milligrammi una volta al giorno.",
            },
        ),
        (
            "The troponin level was elevated on admission.",
            ["troponin"],
            None,
            {
                "de": "Der Troponinwert war bei der Aufnahme erhöht.",
                "fr": "Le taux de troponine était élevé à l'admission.",
                "es": "El nivel de troponina estaba elevado al ingreso.",
                "it": "Il livello di troponina era elevato al ricovero.",
            },
        ),
        (
            "She has a history of hypertension and mitral valve prolapse.",
            ["hypertension", "mitral valve"],
            None,
            {
                "de": "Sie hat eine Vorgeschichte mit Bluthochdruck und Mitralklappenprolaps.",
                "fr": "Elle a des antécédents d'hypertension et de prolapsus de la valve mitrale.",
                "es": "Tiene antecedentes de hipertensión y prolapso de la válvula mitral.",
                "it": "Ha una storia di ipertensione e prolasso della valvola mitrale.",
            },
        ),
        (
            "Warfarin was replaced by apixaban because of the bleeding risk.",
            ["warfarin", "apixaban"],
            None,
            {
                "de": "Warfarin wurde wegen des Blutungsrisikos durch Apixaban ersetzt.",
                "fr": "La warfarine a été remplacée par l'apixaban en raison du risque hémorragique.",
                "es": "La warfarina se sustituyó por apixabán por el riesgo de sangrado.",
                "it": "Il warfarin è stato sostituito con l'apixaban a causa del rischio di sanguinamento.",
            },
        ),
        (
            "The stress test was negative for myocardial ischemia.",
            ["myocardial ischemia"],
            None,
            {
                "de": "Der Belastungstest war negativ für eine Myokardischämie.",
                "fr": "L'épreuve d'effort était négative pour une ischémie myocardique.",
                "es": "La prueba de esfuerzo fue negativa para isquemia miocárdica.",
                "it": "Il test da sforzo è risultato negativo per ischemia miocardica.",
            },
        ),
    ],
    "de": [
        (
            "Der Patient erhielt nach dem Herzinfarkt einen Stent.",
            ["Herzinfarkt", "Stent"],
            "The patient received a stent after the heart attack.",
            {},
        ),
        (
            "Das Elektrokardiogramm zeigt Vorhofflimmern.",
            ["Elektrokardiogramm", "Vorhofflimmern"],
            "The electrocardiogram shows atrial fibrillation.",
            {},
        ),
        ("Bitte nehmen Sie Ramipril jeden Morgen ein.", ["Ramipril"], "Please take ramipril every morning.", {}),
        (
            "Der Blutdruck liegt bei hundertvierzig zu neunzig.",
            ["Blutdruck"],
            "The blood pressure is one hundred forty over ninety.",
            {},
        ),
        (
            "Die Echokardiographie ergab eine leichte Mitralinsuffizienz.",
            ["Echokardiographie", "Mitralinsuffizienz"],
            "The echocardiography showed mild mitral regurgitation.",
            {},
        ),
        ("Wir erhöhen die Dosis von Bisoprolol.", ["Bisoprolol"], "We are increasing the dose of bisoprolol.", {}),
        (
            "Der Troponinwert ist im Normbereich.",
            ["Troponinwert"],
            "The troponin level is within the normal range.",
            {},
        ),
        (
            "Eine Koronarangiographie ist für morgen geplant.",
            ["Koronarangiographie"],
            "A coronary angiography is planned for tomorrow.",
            {},
        ),
    ],
    "fr": [
        (
            "Le patient prend du bisoprolol depuis trois mois.",
            ["bisoprolol"],
            "The patient has been taking bisoprolol for three months.",
            {},
        ),
        (
            "L'échographie cardiaque montre une fraction d'éjection normale.",
            ["échographie cardiaque", "fraction d'éjection"],
            "The cardiac ultrasound shows a normal ejection fraction.",
            {},
        ),
        (
            "Nous arrêtons l'aspirine avant l'intervention.",
            ["aspirine"],
            "We are stopping the aspirin before the procedure.",
            {},
        ),
        (
            "L'électrocardiogramme révèle une fibrillation auriculaire.",
            ["électrocardiogramme", "fibrillation auriculaire"],
            "The electrocardiogram reveals atrial fibrillation.",
            {},
        ),
        (
            "Sa tension artérielle reste trop élevée.",
            ["tension artérielle"],
            "Her blood pressure remains too high.",
            {},
        ),
        (
            "Le cardiologue recommande une coronarographie.",
            ["cardiologue", "coronarographie"],
            "The cardiologist recommends a coronary angiography.",
            {},
        ),
        (
            "Il souffre d'une insuffisance cardiaque chronique.",
            ["insuffisance cardiaque"],
            "He suffers from chronic heart failure.",
            {},
        ),
        ("Le taux de troponine est normal.", ["troponine"], "The troponin level is normal.", {}),
    ],
    "es": [
        (
            "El paciente toma atorvastatina todas las noches.",
            ["atorvastatina"],
            "The patient takes atorvastatin every night.",
            {},
        ),
        (
            "El electrocardiograma muestra una taquicardia sinusal.",
            ["electrocardiograma", "taquicardia sinusal"],
            "The electrocardiogram shows sinus tachycardia.",
            {},
        ),
        (
            "Vamos a programar un ecocardiograma para el lunes.",
            ["ecocardiograma"],
            "We are going to schedule an echocardiogram for Monday.",
            {},
        ),
        (
            "La presión arterial está controlada con enalapril.",
            ["enalapril"],
            "Blood pressure is controlled with enalapril.",
            {},
        ),
        (
            "Tiene antecedentes de infarto de miocardio.",
            ["infarto de miocardio"],
            "He has a history of myocardial infarction.",
            {},
        ),
        (
            "Suspendemos el clopidogrel antes de la cirugía.",
            ["clopidogrel"],
            "We are stopping clopidogrel before surgery.",
            {},
        ),
        ("La prueba de esfuerzo fue normal.", ["prueba de esfuerzo"], "The stress test was normal.", {}),
        (
            "Se recomienda un cateterismo cardíaco.",
            ["cateterismo cardíaco"],
            "A cardiac catheterization is recommended.",
            {},
        ),
    ],
    "ja": [
        ("患者は心電図の検査を受けました。", ["心電図"], "The patient had an electrocardiogram.", {}),
        ("血圧は百四十の九十です。", ["血圧"], "The blood pressure is one hundred forty over ninety.", {}),
        (
            "心房細動のため抗凝固薬を開始します。",
            ["心房細動", "抗凝固薬"],
            "We will start an anticoagulant because of atrial fibrillation.",
            {},
        ),
        (
            "明日、心臓カテーテル検査を行います。",
            ["心臓カテーテル検査"],
            "Tomorrow we will perform a cardiac catheterization.",
            {},
        ),
        ("心エコーで異常は見つかりませんでした。", ["心エコー"], "No abnormality was found on the echocardiogram.", {}),
        ("毎朝アスピリンを飲んでください。", ["アスピリン"], "Please take aspirin every morning.", {}),
        ("心不全の症状が改善しました。", ["心不全"], "The symptoms of heart failure have improved.", {}),
        ("コレステロールの薬を続けます。", ["コレステロール"], "We will continue the cholesterol medication.", {}),
    ],
}

SPLITS = {"train": range(0, 5), "dev": range(5, 6), "test": range(6, 8)}
