"""The report's sections. Each module defines

    NAME, TITLE
    cells(profile) -> [Cell]                  # one measurement each; profile.pick(tiny, quick, full)
    render(results, folder) -> Rendered       # results: {cell key: the dict its run returned}

and nothing in it depends on another section. ``render`` must draw whatever subset of its
cells succeeded (a failed or missing cell is listed by the page, not by the section).
"""
