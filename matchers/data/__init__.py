"""Small data files read by the field modules (surname readings, pinyin syllables)."""
