"""Guardrails (issue 18): checks on what a prompt carries and redaction of what an answer
carries, as a pure library; the request pipeline decides when to run them.

- :mod:`.injection`: prompt-injection heuristics (a score and the rule that matched);
- :mod:`.secrets` and :mod:`.pii`: named patterns for keys and personal data;
- :mod:`.input`: :class:`~.input.InputChecks`, the per-key input guardrails;
- :mod:`.output`: :class:`~.output.OutputRedactor` for answers, buffered and streamed;
- :mod:`.bedrock`: Amazon Bedrock Guardrails (``ApplyGuardrail``);
- :mod:`.audit`: the security audit line every guardrail action writes.

Nothing is imported here, so a function that uses one module loads only that one.
"""
