"""The markers auxiliary prompts are written with and read by: one constant each.

Debate and fusion build prompts that quote answers inside tags; the local simulator (and
anything else that must recognise those prompts) reads them through the same constants
and the readers built here, so the writer and the readers cannot drift apart. Changing a
tag here changes the prompts sent upstream, so it is a behaviour change, not a refactor.
"""

from __future__ import annotations

import re

#: fusion's judge and merge prompts: the conversation so far, then the candidates
CONVERSATION_TAG = "conversation"
#: fusion's candidates (``<answer number=1>``) and the debaters' answers (``<answer from="x">``)
ANSWER_TAG = "answer"
#: a debate revision: this participant's own previous answer
YOUR_ANSWER_TAG = "your_answer"

#: what says a prompt is fusion's judgement (or merge) of candidates
JUDGEMENT_MARK = f"<{CONVERSATION_TAG}>"
#: what says a prompt asks a debater to revise its answer
REVISION_MARK = f"<{YOUR_ANSWER_TAG}>"
#: what says a prompt asks the debate's judge for the final answer
SYNTHESIS_MARK = "The debate ended"


def conversation_block(text: str) -> str:
    return f"<{CONVERSATION_TAG}>\n{text}\n</{CONVERSATION_TAG}>"


def candidate_block(number: int, text: str) -> str:
    return f"<{ANSWER_TAG} number={number}>\n{text}\n</{ANSWER_TAG}>"


def debater_block(name: str, text: str) -> str:
    return f'<{ANSWER_TAG} from="{name}">\n{text}\n</{ANSWER_TAG}>'


def your_answer_block(text: str) -> str:
    return f"<{YOUR_ANSWER_TAG}>\n{text}\n</{YOUR_ANSWER_TAG}>"


def _quoted(opening: str, tag: str) -> re.Pattern[str]:
    return re.compile(rf"{opening}\n(.*?)\n</{re.escape(tag)}>", re.DOTALL)


#: the texts of :func:`candidate_block`, :func:`debater_block` and :func:`your_answer_block`
CANDIDATES = _quoted(rf"<{re.escape(ANSWER_TAG)} number=\d+>", ANSWER_TAG)
DEBATERS = _quoted(rf'<{re.escape(ANSWER_TAG)} from="[^"]*">', ANSWER_TAG)
YOUR_ANSWER = _quoted(rf"<{re.escape(YOUR_ANSWER_TAG)}>", YOUR_ANSWER_TAG)
#: the last user turn inside :func:`conversation_block` (turns read ``USER: <text>``)
LAST_USER_TURN = re.compile(rf"USER: (.*?)\n*</{re.escape(CONVERSATION_TAG)}>", re.DOTALL)

#: ``orchestra eval``'s grading judge: the question being graded (the simulator finds it
#: in its oracle and scores the quoted answers by the gold)
GRADED_QUESTION_TAG = "graded_question"
#: what says a prompt asks a judge to score answers to a graded question
GRADING_MARK = f"<{GRADED_QUESTION_TAG}>"


def graded_question_block(text: str) -> str:
    return f"<{GRADED_QUESTION_TAG}>\n{text}\n</{GRADED_QUESTION_TAG}>"


#: the text of :func:`graded_question_block`
GRADED_QUESTION = _quoted(re.escape(GRADING_MARK), GRADED_QUESTION_TAG)
