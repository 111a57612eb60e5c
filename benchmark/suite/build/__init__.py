"""Making suites, kept apart from loading them: nothing here runs when a suite is only read.

`recipe` holds every number a build depends on; `scratch` builds a tiny-style suite (a base
trained from scratch on the synthetic `tasks`, with the character `tokenizer` and the loops of
`training`); `pretrained` builds LoRA experts on a pretrained base over the `lexicon` tasks (or any
family of `lexicon_pool`, the larger pool blind rounds draw from, whose base accuracy `pool_accuracy`
measures); `importer` makes a suite of local folders (with the `vocab` rule); `declared` reads suites named
by Hub references and `fetch` downloads and locks them.
"""
