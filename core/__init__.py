"""The shop's core, without Rasa: the store interface and its SQL
implementation (core/store), the store's policy (core/policy.py), support
hours, dates and money in Spanish, addresses, promises and return rules;
and the one parser of environment variables (core/settings.py) that the
launcher's settings (bot/settings.py) and the bridge's (handoff/settings.py)
read through.

Why a package of its own: the action server (actions/, thin Rasa adapters)
and the bridge (handoff/) both need these rules, and the bridge must not load
Rasa's SDK. Nothing here imports rasa, rasa_sdk, actions/ or handoff/
(tests/test_seams.py).
"""
