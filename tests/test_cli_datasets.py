import json

import pytest

from salmap.cli import main


def test_info_on_bundled_subset(nus_mini, capsys):
    assert main(["datasets", "info", str(nus_mini)]) == 0
    out = capsys.readouterr().out
    assert "images: 12" in out and "subjects: 12" in out and "problems: none" in out


def test_info_json_and_bad_folder(tmp_path, capsys):
    assert main(["datasets", "info", str(tmp_path)]) == 2
    assert "no known dataset layout" in capsys.readouterr().err


@pytest.mark.shared
def test_info_on_nus_scene(nus_scene, capsys):
    assert main(["datasets", "info", str(nus_scene), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["images"] == 500 and info["subjects"] == 12
    assert info["fixations"]["total"] == 43894
    assert info["problems"] == []


def test_info_on_a_bubbleview_file_and_folder(tmp_path, capsys):
    from replicas import make_bubbleview

    root = make_bubbleview(tmp_path, n=2)
    assert main(["datasets", "info", str(root / "designs.mat")]) == 0
    out = capsys.readouterr().out
    assert f"bubbleview dataset at {root / 'designs.mat'}" in out
    assert "images: 2" in out and "subjects: 12" in out and "problems: none" in out
    assert main(["datasets", "info", str(root)]) == 2
    assert "pass one of designs.mat, photos.mat" in capsys.readouterr().err


@pytest.mark.shared
def test_info_on_eyecrowd_and_bubbleview(eyecrowd, bubbleview, capsys):
    assert main(["datasets", "info", str(eyecrowd), "--quick", "--json"]) == 1  # 3 on the edge
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == "eyecrowd" and info["images"] == 500 and info["subjects"] == 16
    mat = bubbleview / "osie-eye-official.mat"
    assert main(["datasets", "info", str(mat), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == "bubbleview" and info["root"] == str(mat)
    assert (info["images"], info["subjects"], info["fixations"]["total"]) == (51, 15, 7117)


def test_a_reader_that_goes_away_gets_no_traceback(nus_mini):
    """`salmap ... | head` closes the pipe early: the command stops quietly (status 141, as
    a shell reports SIGPIPE), with no traceback."""
    import subprocess
    import sys

    code = "import sys; from salmap.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "datasets", "info", str(nus_mini)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # before the command has printed anything
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, err
    assert "Traceback" not in err and "BrokenPipe" not in err


def test_a_command_imports_its_own_module_only():
    """`salmap crop ...` builds the parser of crop alone: the modules of the other commands
    (evaluate's pulls in scipy) are not imported at start-up; `salmap --help` lists them all."""
    import subprocess
    import sys

    code = (
        "import sys; from salmap.cli import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('salmap.commands.')))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, "crop", "--help"], capture_output=True, text=True, timeout=120
    )
    assert run.stdout.splitlines()[-1] == "['salmap.commands.crop']", run.stderr
    listed = subprocess.run(
        [sys.executable, "-c", code, "--help"], capture_output=True, text=True, timeout=120
    )
    assert "design-report" in listed.stdout and "salmap.commands.evaluate" in listed.stdout
