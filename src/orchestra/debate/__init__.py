"""Multi-model debate: the state machine definition (used by CDK and the tests) and steps."""
