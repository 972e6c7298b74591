"""Words shared by retrieval, answering and verification: one stopword list for all three."""

from __future__ import annotations


def word_set(text: str) -> frozenset[str]:
    """A constant set of words written as one whitespace-separated string."""
    return frozenset(text.split())


STOPWORDS = word_set("""
    a about above after again against ago al all also am an and any are as at be because been
    before being below between both but by can could did do does doing done down during each
    either else ever few for from further get got had has have having he her here hers herself
    him himself his how i if in into is it its itself just let me more most much my myself no nor
    not now of off on once only or other our ours ourselves out over own per same she should so
    some such than that the their theirs them themselves then there these they this those through
    to too under until up upon very was we were what whatever when where whether which while who
    whom whose why will with within without would yet you your yours yourself yourselves many
    say says said tell told know think mean happen happened happens anything something thing
    things way ways like also""")
