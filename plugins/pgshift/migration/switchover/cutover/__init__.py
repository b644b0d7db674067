"""The cutover runbook that :class:`pgshift.migration.operators.cutover.CutoverOperator` follows.

:mod:`.phases`: the phases (gate, fence, drain, verify, sequences, commit, finalize) and the rollback;
:mod:`.recovery`: what a retry does about an attempt of the same run that died.
"""
