"""Marketing's campaign catalogue: validated like a landing file, every problem named with row and column."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from bankmkt.campaigns import (
    COLUMNS,
    CatalogueError,
    ensure_catalogue,
    load_catalogue,
    standing_catalogue,
    wave_catalogue,
    write_catalogue,
)


def test_wave_catalogue_round_trips(tmp_path):
    path = write_catalogue(wave_catalogue(date(2024, 3, 1), 28, 20), tmp_path / "campaign_catalogue.csv")
    campaigns = load_catalogue(path)
    assert len(campaigns) == 8  # two waves of four products
    first = campaigns["CRED-20240301"]
    assert first.start_date == date(2024, 3, 1) and first.end_date == date(2024, 3, 14)
    assert first.max_age == 75 and first.lifecycle_stages == ()
    assert campaigns["WEAL-20240301"].lifecycle_stages == ("growing", "mature")
    assert set(first.channels) == {"email", "push", "sms", "phone", "branch"}
    assert sum(capacity for capacity, _ in first.channels.values()) == 20
    assert first.is_active(date(2024, 3, 14)) and not first.is_active(date(2024, 3, 15))


def test_every_bad_value_is_named_with_its_row_and_column(tmp_path):
    frame = standing_catalogue(100, 0.1).astype(object)
    frame.loc[0, "daily_capacity"] = "ten"
    frame.loc[1, "channel"] = "fax"
    frame.loc[2, "control_share"] = "1.0"
    frame.loc[3, "start_date"] = "2024-13-01"
    frame.loc[4, "product_code"] = "mortgage"
    frame.loc[6, "lifecycle_stages"] = "growing;sleeping"
    frame.loc[7, "campaign_id"] = "bad id/with slash"
    path = tmp_path / "campaign_catalogue.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(CatalogueError) as error:
        load_catalogue(path)
    text = str(error.value)
    for expected in (
        "row 1, column daily_capacity: 'ten' is not a whole number",
        "row 2, column channel: 'fax' is not a channel",
        "row 3, column control_share: '1.0' is not a share strictly between 0 and 1",
        "row 4, column start_date: '2024-13-01' is not a date",
        "row 5, column product_code: 'mortgage' is not a promoted product",
        "row 7, column lifecycle_stages: 'growing;sleeping' names unknown life-cycle stage(s) ['sleeping']",
        "row 8, column campaign_id: 'bad id/with slash' is not a campaign id",
    ):
        assert expected in text, text
    assert str(path) in text


def test_a_campaign_must_agree_with_itself_and_not_repeat_a_channel(tmp_path):
    frame = standing_catalogue(100, 0.1).astype(object)
    frame.loc[1, "offer"] = "something else"
    frame.loc[2, "channel"] = frame.loc[0, "channel"]
    frame.loc[3, "end_date"] = "1999-01-01"
    frame.loc[3:4, "end_date"] = "1999-01-01"
    path = tmp_path / "campaign_catalogue.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(CatalogueError) as error:
        load_catalogue(path)
    text = str(error.value)
    assert "row 2, column offer: 'something else' differs from" in text
    assert "row 3: channel email of STANDING_CREDIT_CARD repeats row 1" in text
    assert "row 4: end_date 1999-01-01 is before start_date 2000-01-01" in text


def test_missing_columns_empty_file_and_no_file(tmp_path):
    path = tmp_path / "campaign_catalogue.csv"
    standing_catalogue(100, 0.1).drop(columns=["cost_per_contact_eur"]).to_csv(path, index=False)
    with pytest.raises(CatalogueError, match=r"missing column\(s\) \['cost_per_contact_eur'\]"):
        load_catalogue(path)
    pd.DataFrame(columns=list(COLUMNS)).to_csv(path, index=False)
    with pytest.raises(CatalogueError, match="no campaign rows"):
        load_catalogue(path)
    with pytest.raises(CatalogueError, match="no campaign catalogue"):
        load_catalogue(tmp_path / "nothing.csv")


def test_without_a_catalogue_the_standing_one_is_written_once(tmp_path):
    import dataclasses

    from bankmkt.settings import get_settings

    settings = dataclasses.replace(get_settings(), data_dir=tmp_path)
    campaigns, note = ensure_catalogue(settings)
    assert set(campaigns) == {
        f"STANDING_{p.upper()}" for p in ("credit_card", "personal_loan", "term_deposit", "wealth_management")
    }
    assert "wrote the standing catalogue" in note
    assert sum(c for c, _ in campaigns["STANDING_CREDIT_CARD"].channels.values()) == settings.target_list_size
    # Marketing's edits are kept: the file is never rewritten once it exists.
    write_catalogue(wave_catalogue(date(2024, 3, 1), 14, 10), settings.campaign_catalogue_file)
    campaigns, note = ensure_catalogue(settings)
    assert set(campaigns) == {"CRED-20240301", "PERS-20240301", "TERM-20240301", "WEAL-20240301"}
    assert note == f"catalogue {settings.campaign_catalogue_file}"
