"""The words of the offline drafter's items, in the language of the source text.

English, French, German and Spanish; a text in another language gets English prompts.
Only the fixed words around the text's own sentences are translated.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Wording:
    """Prompt leads and explanation phrases of one language."""

    fill_blank: str
    fill_number: str
    fill_year: str
    complete: str
    true_or_false: str
    which_agree: tuple[str, ...]
    about_theme: str | None  # "... about {theme} ...", None: generic prompts only
    text_says: str  # 'The text says: "{sentence}"'
    true: str
    false: str
    not_: str  # "(stroma, not glucose)"
    states: str  # "The text states {agree}. It does not state {disagree}."
    text_has: str  # '(the text says: "{sentence}")'


ENGLISH = Wording(
    fill_blank="Fill in the blank: ",
    fill_number="Fill in the missing number: ",
    fill_year="Fill in the missing year: ",
    complete="Complete the sentence: ",
    true_or_false="True or false: ",
    which_agree=(
        "Which of these statements agree with the text?",
        "According to the text, which of these statements are true?",
        "Which of these statements does the text support?",
    ),
    about_theme="Which of these statements about {theme} agree with the text?",
    text_says='The text says: "{sentence}"',
    true="True.",
    false="False.",
    not_="not",
    states="The text states {agree}. It does not state {disagree}.",
    text_has='(the text says: "{sentence}")',
)

WORDINGS = {
    "en": ENGLISH,
    "fr": Wording(
        fill_blank="Complétez le texte : ",
        fill_number="Complétez par le nombre manquant : ",
        fill_year="Complétez par l'année manquante : ",
        complete="Complétez la phrase : ",
        true_or_false="Vrai ou faux : ",
        which_agree=(
            "Lesquelles de ces affirmations sont conformes au texte ?",
            "D'après le texte, lesquelles de ces affirmations sont vraies ?",
            "Lesquelles de ces affirmations le texte confirme-t-il ?",
        ),
        about_theme=None,
        text_says="Le texte dit : « {sentence} »",
        true="Vrai.",
        false="Faux.",
        not_="et non",
        states="Le texte dit {agree}. Il ne dit pas {disagree}.",
        text_has="(le texte dit : « {sentence} »)",
    ),
    "de": Wording(
        fill_blank="Ergänzen Sie die Lücke: ",
        fill_number="Ergänzen Sie die fehlende Zahl: ",
        fill_year="Ergänzen Sie das fehlende Jahr: ",
        complete="Vervollständigen Sie den Satz: ",
        true_or_false="Richtig oder falsch: ",
        which_agree=(
            "Welche dieser Aussagen stimmen mit dem Text überein?",
            "Welche dieser Aussagen sind laut Text richtig?",
            "Welche dieser Aussagen stützt der Text?",
        ),
        about_theme=None,
        text_says="Im Text steht: „{sentence}“",
        true="Richtig.",
        false="Falsch.",
        not_="nicht",
        states="Der Text sagt {agree}. Er sagt nicht {disagree}.",
        text_has="(im Text steht: „{sentence}“)",
    ),
    "es": Wording(
        fill_blank="Complete el espacio en blanco: ",
        fill_number="Complete el número que falta: ",
        fill_year="Complete el año que falta: ",
        complete="Complete la frase: ",
        true_or_false="Verdadero o falso: ",
        which_agree=(
            "¿Cuáles de estas afirmaciones concuerdan con el texto?",
            "Según el texto, ¿cuáles de estas afirmaciones son verdaderas?",
            "¿Cuáles de estas afirmaciones respalda el texto?",
        ),
        about_theme=None,
        text_says="El texto dice: «{sentence}»",
        true="Verdadero.",
        false="Falso.",
        not_="no",
        states="El texto dice {agree}. No dice {disagree}.",
        text_has="(el texto dice: «{sentence}»)",
    ),
}


def wording(language: str) -> Wording:
    """The wording for ``language`` (English for languages without one)."""
    return WORDINGS.get(language, ENGLISH)
