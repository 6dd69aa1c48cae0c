"""The helpdesk's CSV export (``support/tickets.csv``): one row per ticket, in the order the
tickets were opened, bodies spanning several lines as people write them.

The requester's address is whatever they wrote from (their personal address, sometimes with
capitals, sometimes their work address); the agent fills ``customer_id`` when they could link
the ticket to a platform account, so it is empty for prospects and for some customers.
"""

from __future__ import annotations

import csv
import logging
import random
from datetime import datetime
from pathlib import Path

from dsar.demo.org import showcase
from dsar.demo.org.names import COURSES, SUPPORT_AGENTS
from dsar.demo.org.people import AS_OF_TS, as_typed, person, stamp

logger = logging.getLogger(__name__)

COLUMNS = ("ticket_id", "opened_at", "requester_email", "customer_id", "subject", "body",
           "status", "agent")
FIRST_TICKET = 10_001
_SINCE = int((datetime(2022, 1, 1) - datetime(1970, 1, 1)).total_seconds())

_TEMPLATES = (
    ("Accès au module impossible",
     "Bonjour,\nDepuis hier je n'arrive plus à ouvrir le module {module} de la formation "
     "« {course} » : la page reste blanche.\nPouvez-vous regarder ?\nMerci,\n{first}"),
    ("Attestation de fin de formation",
     "Bonjour,\nJ'ai terminé « {course} » et je n'ai pas reçu mon attestation.\n"
     "Mon employeur me la demande pour mon dossier.\nCordialement,\n{first} {last}"),
    ("Question sur mon financement CPF",
     "Bonjour,\nMon dossier CPF pour « {course} » est indiqué « en attente » sur "
     "Mon Compte Formation. Est-ce normal ?\nBien à vous,\n{first} {last}\n{phone}"),
    ("Facture",
     "Bonjour,\nPourriez-vous m'envoyer la facture de « {course} » au nom de mon "
     "employeur ?\nMerci d'avance,\n{first}"),
    ("Changement de date de session",
     "Bonjour,\nJe ne pourrai pas être présent(e) à la session du {day}. Est-il possible "
     "de la reporter ?\nCordialement,\n{first} {last}"),
    ("Mot de passe oublié",
     "Bonjour, le lien de réinitialisation du mot de passe ne fonctionne pas.\n{first}"),
    ("Demande d'information",
     "Bonjour,\nJe souhaiterais connaître les prochaines dates de « {course} » et son "
     "prix.\nMerci,\n{first} {last}"),
)

#: The showcase tickets: (key, opened at, address used, with customer id, subject, body).
SHOWCASE_TICKETS = (
    ("F", "2021-06-21 10:12:40", "email", True, "Attestation de fin de formation",
     "Bonjour,\nJe n'ai pas reçu l'attestation de fin de formation « Espagnol (A2) ». "
     "Pourriez-vous me l'envoyer par e-mail ?\nMerci,\nMonique Garnier"),
    ("A", "2025-01-20 09:41:12", "email", True, "Attestation de fin de formation",
     "Bonjour,\nJe n'ai pas reçu l'attestation de fin de formation « Soins palliatifs : "
     "accompagnement de fin de vie ».\nMerci de me l'envoyer,\nLéa Fontaine"),
    ("A", "2025-06-03 22:15:47", "other_case", False, "Problème de connexion",
     "Bonsoir,\nImpossible de me connecter depuis mon téléphone, le code reçu par e-mail "
     "est refusé.\nLéa"),
    ("B", "2025-09-08 14:02:33", "email", True, "Changement d'adresse",
     "Bonjour,\nJ'ai déménagé à Bordeaux, pouvez-vous mettre à jour mon adresse de "
     "facturation ?\nLéa Fontaine"),
    ("D", "2026-02-16 10:27:05", "email", True, "Convocations non reçues pour une collègue",
     "Bonjour,\nMa collègue Léa Fontaine (lea.fontaine@example.fr) ne reçoit pas ses "
     "convocations pour la session de mars. Son numéro de client est le 7, je crois.\n"
     "Pouvez-vous vérifier ?\nJulien Mercier\nCadre de santé, Clinique Saint-Roch"),
    ("A", "2026-03-11 11:08:29", "work", True, "Facture au nom de la clinique",
     "Bonjour,\nLa clinique prend en charge ma prochaine formation : pouvez-vous établir "
     "la facture à son nom ?\nLéa Fontaine\nInfirmière, Clinique Saint-Roch"),
    ("E", "2026-06-12 18:30:00", "email", False, "Demande d'information",
     "Bonjour,\nJe souhaiterais connaître les prochaines dates de « Python pour l'analyse "
     "de données ».\nCléa"),
)


def write_support(path: Path, people: int, seed: int) -> dict[str, int]:
    """Write the helpdesk export. Returns the number of tickets."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(f"support:{seed}")
    population = people + people // 10
    total = max(20, people // 12)
    gap = (AS_OF_TS - _SINCE) / total
    pending = sorted((_local_ts(t[1]), t) for t in SHOWCASE_TICKETS)
    number = FIRST_TICKET
    at = _SINCE
    with path.open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(COLUMNS)
        for _ in range(total):
            at += int(rng.expovariate(1 / gap)) + 1
            if at > AS_OF_TS:
                break
            while pending and pending[0][0] <= at:
                out.writerow(_showcase_row(number, pending.pop(0)[1], seed, people, rng))
                number += 1
            out.writerow(_row(number, at, int(rng.random() * population), seed, people, rng))
            number += 1
        for _, ticket in pending:
            out.writerow(_showcase_row(number, ticket, seed, people, rng))
            number += 1
    count = number - FIRST_TICKET
    logger.info("tickets.csv written: %d tickets", count)
    return {"tickets": count}


def _french_date(at: int) -> str:
    day = stamp(at)[:10]
    return f"{day[8:10]}/{day[5:7]}/{day[:4]}"


def _local_ts(text: str) -> int:
    return int((datetime.fromisoformat(text) - datetime(1970, 1, 1)).total_seconds())


def _status(at: int, rng: random.Random) -> str:
    age = AS_OF_TS - at
    if age > 30 * 86400:
        return "fermé"
    return ("ouvert", "en attente", "résolu")[int(rng.random() * 3)]


def _row(number: int, at: int, i: int, seed: int, people: int, rng: random.Random) -> tuple:
    p = person(i, seed, people)
    rand = rng.random
    email = p.email
    customer_id = p.account_id if p.account_id is not None and rand() < 0.7 else None
    draw = rand()
    if p.work_email and p.account_id is not None and draw < 0.15:
        email = p.work_email
        customer_id = p.account_id if rand() < 0.8 else None
    elif draw > 0.96:
        email = as_typed(email)
    subject, body = _TEMPLATES[int(rand() * len(_TEMPLATES))]
    course = COURSES[int(rand() * len(COURSES))][1]
    body = body.format(module=1 + int(rand() * 6), course=course, first=p.first_name,
                       last=p.last_name, phone=p.phone, day=_french_date(at + 86400 * 9))
    return (number, stamp(at), email, customer_id if customer_id is not None else "",
            subject, body, _status(at, rng), SUPPORT_AGENTS[int(rand() * len(SUPPORT_AGENTS))])


def _showcase_row(number: int, ticket: tuple, seed: int, people: int,
                  rng: random.Random) -> tuple:
    key, opened, address, with_id, subject, body = ticket
    index = next(i for i, p in showcase.PEOPLE.items() if p["key"] == key)
    p = person(index, seed, people)
    email = {"email": p.email, "work": p.work_email,
             "other_case": showcase.A_EMAIL_OTHER_CASE}[address]
    return (number, opened, email, p.account_id if with_id else "", subject, body,
            _status(_local_ts(opened), rng), SUPPORT_AGENTS[number % len(SUPPORT_AGENTS)])
