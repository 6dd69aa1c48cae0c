"""Bad input on the back office's actions of rectification, objection and restriction: each
gets a clear message in the staff member's language (400), and nothing of the plan changes."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from dsar.changes import rectification
from dsar.extensions import db
from dsar.models import ChangePlan
from tests.support.rights_world import (
    objection_in_review,
    rectification_in_review,
    rectification_with_a_correction,
    restriction_in_force,
)
from tests.support.staff import login, make_staff, post_action


def plan_state(app, case_id: int) -> tuple:
    with app.app_context():
        plan = db.session.scalar(select(ChangePlan).where(ChangePlan.case_id == case_id))
        return (rectification.items_of(plan), dict(plan.decisions or {}), plan.lift_on,
                plan.lift_reason)


@pytest.mark.parametrize(
    ("world", "action", "form", "message"),
    [
        # A field that was never offered (a forged choice): refused, nothing mapped.
        (rectification_in_review, "correct",
         {"targets": '["shop", "customers", "name", "2"]', "new_value": "X"},
         "Choisissez la donnée à corriger parmi celles trouvées."),
        (rectification_in_review, "correct", {"targets": "not json", "new_value": "X"},
         "Choisissez la donnée à corriger parmi celles trouvées."),
        (rectification_in_review, "correct",
         {"targets": '["shop", "customers", "name", "1"]', "new_value": "   "},
         "Veuillez indiquer ce que la donnée doit indiquer."),
        (rectification_in_review, "correct",
         {"targets": '["shop", "customers", "name", "1"]', "new_value": "x" * 501},
         "Veuillez ne pas dépasser 500"),
        (rectification_with_a_correction, "remove_correction", {"item_id": "nope"},
         "Cette correction ne figure plus dans le plan."),
        (rectification_in_review, "refuse_correction", {"what": "Date", "reason": " "},
         "Veuillez indiquer les motifs du refus."),
        (objection_in_review, "decide",
         {"processing": "made_up", "decision": "stop", "means": "erase"},
         "Les données de la personne ne sont pas utilisées par ce traitement."),
        (objection_in_review, "decide",
         {"processing": "customers", "decision": "maybe", "means": "erase"},
         "Indiquez si le traitement cesse ou se poursuit."),
        (objection_in_review, "decide",
         {"processing": "customers", "decision": "stop", "means": "burn"},
         "Indiquez comment le traitement est arrêté."),
        (restriction_in_force, "lift", {"lift_on": "not-a-date", "reason": "Vérifiée."},
         "Choisissez une date postérieure à aujourd"),
        (restriction_in_force, "lift", {"lift_on": "2099-01-01", "reason": ""},
         "Veuillez indiquer le motif de la levée de la limitation."),
    ],
)
def test_bad_input_is_refused_in_words_and_changes_nothing(app, world, action, form, message):
    built = world(app)
    before = plan_state(app, built.case_id)
    client = app.test_client()
    login(client, make_staff(app, "dpo", email="dpo-bad-input@staff.example"))
    resp = post_action(client, built.reference, action, form)
    assert resp.status_code == 400
    page = resp.get_data(as_text=True)
    assert f'id="{action}-error"' in page
    assert message in page.replace("\u2019", "'").replace("\u00a0", " ")
    assert "Traceback" not in page
    assert plan_state(app, built.case_id) == before
