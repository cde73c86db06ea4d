"""What ``neurolearn train`` offers: tasks, default hidden sizes, rate-form rules. No torch here: the command
line's help reads these."""

TASKS = ("xor", "digits", "fashion-mnist")
SPIKING_TASKS = ("xor", "digits")
HIDDEN = {"xor": (8,), "digits": (500, 500), "fashion-mnist": (500, 500)}  # default hidden sizes
RATE_RULE_NAMES = ("burstprop", "backprop", "fa")   # train.rate_rules.RATE_RULES, by name
ONCHIP_RULE_NAMES = ("btsp-credit",)   # --spiking --on-chip classification only (BTSP's credit-assignment form)
