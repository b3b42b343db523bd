import json

from click.testing import CliRunner

from liquidity.commands import COMMANDS, cli, load_command


def test_train_command_writes_verified_artifacts(snapshots_dir, runner, tmp_path):
    out = tmp_path / "model"
    result = runner.invoke(args=["train", "--data", str(snapshots_dir), "--out", str(out), "--quick", "--folds", "3"])
    assert result.exit_code == 0, result.output
    card = json.loads((out / "model_card.json").read_text())
    assert card["model_version"] in result.output
    assert card["data"]["dates"] == ["2024-01-01", "2024-01-04"] and card["data"]["snapshot_dates"] == 3


def test_train_command_reports_bad_data_in_one_line_without_a_traceback(broken_dir, runner, tmp_path):
    result = runner.invoke(args=["train", "--data", str(broken_dir / "missing_mkt_cap.csv"), "--out", str(tmp_path)])
    assert result.exit_code != 0
    assert "missing required column 'mkt_cap'" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "model_card.json").exists()


def test_train_command_exits_non_zero_with_a_one_line_error(tmp_path):
    result = CliRunner().invoke(cli, ["train", "--data", str(tmp_path), "--out", str(tmp_path), "--quick"])
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0


def test_flask_and_python_m_liquidity_offer_the_same_commands_with_the_same_options(app):
    def options(command):
        return sorted((param.name, tuple(param.opts)) for param in command.params)

    commands = {name: load_command(name) for name in COMMANDS}
    assert {"train", "verify", "report", "ingest", "dataset"} <= set(commands)
    for name, command in commands.items():
        assert options(app.cli.get_command(None, name)) == options(command), name
    assert {"--seed", "--threshold", "--jobs", "--folds", "--quick"} <= {
        opt for param in commands["train"].params for opt in param.opts}


def test_python_m_liquidity_summarises_a_dataset(snapshots_dir):
    result = CliRunner().invoke(cli, ["dataset", str(snapshots_dir)])
    assert result.exit_code == 0, result.output
    assert "dates: 2024-01-01, 2024-01-02, 2024-01-04" in result.stdout


def test_each_listed_help_line_is_the_commands_own(app):
    for name in COMMANDS:
        command = load_command(name)
        for width in (45, 200):
            assert cli.get_command(None, name).get_short_help_str(width) == command.get_short_help_str(width), name
    listing = CliRunner().invoke(cli, ["--help"]).stdout
    assert all(name in listing for name in COMMANDS)


def test_python_m_liquidity_shows_a_commands_own_help():
    result = CliRunner().invoke(cli, ["forecast", "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: liquidity forecast [OPTIONS]" in result.stdout and "--database-url" in result.stdout
