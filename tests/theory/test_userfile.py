"""Loading user files (``theory.userfile``) and the plain-number limits of a task definition.

A task file is code: whatever it does while loading (exit, interrupt, never return, raise) must
come back as one ``file:line`` error, and the process's signal handlers must be as before.
"""

import signal
import time

import pytest

from theory.catalogue import load_task
from theory.task import MAX_ALPHABET, TaskDefinitionError
from theory.userfile import TIMEOUT_VARIABLE, UserFileError, run_user_file

HEADER = "from theory.language import x, t, n\nfrom theory.task import Task\n"
GOOD = 'TASK = Task(name="copy2", description="copy", length_meaning="tokens", rule=x[t], alphabet=4)\n'


def write(tmp_path, body: str, name: str = "my_task.py"):
    path = tmp_path / name
    path.write_text(HEADER + body)
    return path


@pytest.mark.parametrize("body, line, phrase", [
    ("import sys\nsys.exit(0)\n", 4, "exits while being loaded (SystemExit(0)"),
    ("raise SystemExit(3)\n", 3, "SystemExit(3)"),
    ("raise KeyboardInterrupt\n", 3, "raises KeyboardInterrupt"),
    ("y = undefined_name + 1\n", 3, "name 'undefined_name' is not defined; import it from theory.language"),
    ("def f(:\n", 3, "syntax error"),
    ("z = 1 / 0\n", 3, "ZeroDivisionError"),
])
def test_what_a_file_does_while_loading_is_its_error_with_file_and_line(tmp_path, body, line, phrase):
    path = write(tmp_path, body)
    with pytest.raises(UserFileError) as info:
        load_task(str(path))
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: ") and phrase in message and "\n" not in message


@pytest.mark.parametrize("body, line", [("while True:\n    pass\n", 3), ("import time\ntime.sleep(60)\n", 4)])
def test_a_file_that_never_returns_is_stopped_by_the_time_limit(tmp_path, monkeypatch, body, line):
    monkeypatch.setenv(TIMEOUT_VARIABLE, "0.5")
    path = write(tmp_path, body)
    started = time.perf_counter()
    with pytest.raises(UserFileError) as info:
        run_user_file(path)
    assert time.perf_counter() - started < 10
    assert str(info.value).startswith(f"{path}:{line}: ") and "did not finish loading within 0.5 s" in str(info.value)
    assert TIMEOUT_VARIABLE in str(info.value)


def test_loading_leaves_the_signal_handlers_and_timer_as_they_were(tmp_path):
    before = (signal.getsignal(signal.SIGALRM), signal.getsignal(signal.SIGINT))
    namespace = run_user_file(write(tmp_path, GOOD))
    assert namespace["TASK"].name == "copy2"
    assert (signal.getsignal(signal.SIGALRM), signal.getsignal(signal.SIGINT)) == before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)  # no alarm left armed


@pytest.mark.parametrize("value", ["0", "-3", "soon", "nan"])
def test_a_bad_timeout_setting_is_refused(tmp_path, monkeypatch, value):
    monkeypatch.setenv(TIMEOUT_VARIABLE, value)
    with pytest.raises(UserFileError, match=f"{TIMEOUT_VARIABLE}=.* is not a positive number"):
        run_user_file(write(tmp_path, GOOD))


def test_the_command_reports_an_exiting_file_with_exit_code_2(tmp_path, capsys):
    from verify.cli import main

    path = write(tmp_path, "import sys\nsys.exit(0)\n")
    assert main(["tasks", "show", str(path)]) == 2  # today's bug: exit 0 and no output
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"lengthgen: error: {path}:4: ")


# ------------------------------------------------------------------ limits of a definition
def task_file(tmp_path, keywords: str, name: str = "my_task.py"):
    return write(tmp_path, 'TASK = Task(name="copy2", description="copy", length_meaning="tokens", rule=x[t], '
                           f'{keywords})\n', name)


@pytest.mark.parametrize("keywords, phrase", [
    ("alphabet=10**9", f"alphabet must be an integer >= 2 and <= {MAX_ALPHABET}"),
    ("alphabet=True", "alphabet must be an integer"),
    ("alphabet=4.0", "alphabet must be an integer"),
    ("alphabet=4, min_length=0", "min_length must be an integer >= 1, got 0"),
    ("alphabet=4, min_length=-2", "min_length must be an integer >= 1, got -2"),
    ("alphabet=4, min_length=True", "min_length must be an integer >= 1, got True"),
    ("alphabet=4, min_length=5, max_length=3", "max_length must be an integer >= min_length (5)"),
    ("alphabet=4, max_length='8'", "max_length must be an integer"),
    ("alphabet=4, output_length='n'", "output_length must be an integer or a sympy expression in n"),
    ("alphabet=4, operand_lengths=('2*n',)", "operand_lengths[0] must be an integer or a sympy expression"),
    ("alphabet=4, operand_lengths='n'", "operand_lengths must be a tuple"),
    ("alphabet=4, distinct='yes'", "distinct must be True or False"),
    ("alphabet=4, output_alphabet=0", "output_alphabet must be an integer in 1.."),
    ("alphabet=4, initial=False", "initial must be an integer"),
])
def test_out_of_range_numbers_are_refused_when_loaded(tmp_path, keywords, phrase):
    path = task_file(tmp_path, keywords)
    with pytest.raises(TaskDefinitionError) as info:
        load_task(str(path))
    assert phrase in str(info.value) and str(info.value).startswith(f"{path}:3: ")


def test_a_huge_distinct_alphabet_is_refused_at_once_and_the_largest_allowed_is_quick(tmp_path, monkeypatch):
    monkeypatch.setenv(TIMEOUT_VARIABLE, "20")  # a hang would surface as a timeout, not as the phrase below
    started = time.perf_counter()
    with pytest.raises(TaskDefinitionError, match="alphabet must be an integer >= 2 and <= 4096, got 10000000"):
        load_task(str(task_file(tmp_path, "alphabet=10**7, distinct=True")))
    task = load_task(str(task_file(tmp_path, f"alphabet={MAX_ALPHABET}, distinct=True", name="big.py")))
    assert task.max_length == MAX_ALPHABET  # n distinct tokens fit exactly up to the alphabet's size
    assert time.perf_counter() - started < 15  # measured ~1 s here on a busy machine


def test_distinct_tokens_that_cannot_fit_even_at_min_length_are_refused(tmp_path):
    path = task_file(tmp_path, "alphabet=4, distinct=True, min_length=5")
    with pytest.raises(TaskDefinitionError, match="alphabet 4 is too small at n = min_length = 5"):
        load_task(str(path))
