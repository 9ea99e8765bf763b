"""Progress on long work (generation, publication): a bar on a terminal, lines in logs."""

from __future__ import annotations


def test_long_work_shows_a_bar_on_a_terminal_and_a_line_per_step_in_a_log(capsys):
    import io

    from bankmkt.runtime import progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    screen = Terminal()
    step = progress(3, "generating", stream=screen)
    for day in ("2024-01-01", "2024-01-02", "2024-01-03"):
        step(f"{day}  1,000 rows")
    shown = screen.getvalue()
    assert "generating" in shown and "100%" in shown and "3/3" in shown and "2024-01-03  1,000 rows" in shown
    log = io.StringIO()  # not a terminal: the lines themselves, on stdout
    step = progress(2, "publishing", stream=log)
    step("[1/2] 2024-01-01: 500 customers")
    step("[2/2] 2024-01-02: 500 customers")
    assert capsys.readouterr().out.splitlines() == [
        "[1/2] 2024-01-01: 500 customers",
        "[2/2] 2024-01-02: 500 customers",
    ]
    assert log.getvalue() == ""
