"""The showcase people: fixed, always generated (whatever the population size, from 50), so
that tests, the benchmark and a person trying the demo know whom to ask about.

- **A**, Léa Fontaine, has records in all six sources, including a CRM contact under her work
  address linked to her platform customer id only, her address written with other capitals
  in the newsletter and in one support ticket (the same mailbox: that IS her), and a support
  ticket sent from her work address that carries her customer id.
- **B**, another Léa Fontaine (a near-twin: same first and last name, another mailbox), with
  data in every source. Nothing of hers belongs in A's answer.
- **C**, Karim Benali, A's colleague: his visits come from the clinic's shared IP address, the
  same as A's office visits. An IP address is never an identifier.
- **D**, Julien Mercier, A's manager, wrote a support ticket whose text names A and quotes her
  address. It is D's ticket, not A's.
- **E**, Cléa Fontaine, whose address contains A's (``clea.fontaine@…`` contains
  ``lea.fontaine@…``): a CRM's fuzzy "contains" search for A returns her too; the connector's
  own exact check must drop her.
- **F**, Monique Garnier, died on 3 October 2026 (``died``), left post-mortem directives
  (a sample case, :mod:`dsar.demo.cases`) naming her daughter Élise Garnier as the person to
  carry them out (``relative``). Platform account (enrolments, attendance, level tests,
  invoices), CRM contact, newsletter subscription, a support ticket about her certificate.
- **G**, Bernard Lemoine, died on 18 September 2026, left no directives: his daughter Sophie
  Lemoine asks as an heir. Platform account with invoices, CRM contact, newsletter.

The sources do not know of the deaths (nobody told them): only ``died`` does, for the sample
cases, the tests and the docs.
"""

from __future__ import annotations

from typing import Any

#: The clinic's NAT address (A, C, D and the clinic's other employees come out of it).
CLINIC_IP = "203.0.113.45"
#: The Wi-Fi of Horizon's own training centre in Lyon (many learners share it).
TRAINING_CENTRE_IP = "192.0.2.10"

#: Index in the population (account id = index + 1) -> the person's fixed attributes.
PEOPLE: dict[int, dict[str, Any]] = {
    6: dict(key="A", first_name="Léa", last_name="Fontaine", gender="F",
            email="lea.fontaine@example.fr", birth_date="1988-04-12",
            phone="+33 6 12 48 90 37", address="14 rue des Lilas", postal_code="69003",
            city="Lyon 3e", profession="Infirmière", employer=0,
            work_email="l.fontaine@clinique-saint-roch.example",
            created_at="2021-09-14 20:41:07", first_visit=1631644800,
            courses=("SAN-PAL-3", "LNG-ANG-B2", "IA-GEN-1"),
            bio="Infirmière en soins palliatifs, je me forme pour accompagner au mieux les "
                "patients et leurs proches."),
    18: dict(key="B", first_name="Léa", last_name="Fontaine", gender="F",
             email="lea.fontaine33@example.fr", birth_date="1995-11-02",
             phone="+33 5 56 21 74 09", address="8 rue Sainte-Catherine", postal_code="33000",
             city="Bordeaux", profession="Comptable", employer=None, work_email=None,
             created_at="2023-02-06 12:15:44", first_visit=1675680000,
             courses=("CPT-PAI-1", "BUR-EXC-2"),
             bio="Comptable en cabinet, je prépare une évolution vers la gestion de la paie."),
    27: dict(key="C", first_name="Karim", last_name="Benali", gender="M",
             email="karim.benali@example.fr", birth_date="1983-07-21",
             phone="+33 7 81 22 35 60", address="27 avenue Jean-Jaurès", postal_code="69007",
             city="Lyon 7e", profession="Aide-soignant", employer=0,
             work_email="k.benali@clinique-saint-roch.example",
             created_at="2022-01-10 08:05:12", first_visit=1641800000,
             courses=("SEC-SST", "SAN-PAL-3"), bio=""),
    40: dict(key="D", first_name="Julien", last_name="Mercier", gender="M",
             email="julien.mercier@example.fr", birth_date="1979-03-30",
             phone="+33 4 72 18 45 90", address="5 rue Paul-Bert", postal_code="69008",
             city="Lyon 8e", profession="Cadre de santé", employer=0,
             work_email="j.mercier@clinique-saint-roch.example",
             created_at="2020-06-03 10:22:51", first_visit=1591172571,
             courses=("MGT-EQP-1",), bio=""),
    44: dict(key="E", first_name="Cléa", last_name="Fontaine", gender="F",
             email="clea.fontaine@example.fr", birth_date="2001-01-17",
             phone="+33 6 70 33 12 84", address="11 rue de la Gare", postal_code="44000",
             city="Nantes", profession="Étudiante", employer=None, work_email=None,
             created_at="2024-09-01 19:03:26", first_visit=1725210000,
             courses=("DEV-PY-1",), bio=""),
    47: dict(key="F", first_name="Monique", last_name="Garnier", gender="F",
             email="monique.garnier@example.fr", birth_date="1949-02-21",
             phone="+33 4 50 27 61 83", address="3 chemin des Vignes", postal_code="74000",
             city="Annecy", profession="Retraitée", employer=None, work_email=None,
             created_at="2021-03-08 10:14:02", first_visit=1615194842,
             courses=("LNG-ESP-A2", "BUR-EXC-1", "IA-GEN-1"),
             bio="Ancienne institutrice, j'apprends l'espagnol pour voyager.",
             died="2026-10-03",
             relative=dict(name="Élise Garnier", email="elise.garnier@example.fr",
                           role="designated_person")),
    48: dict(key="G", first_name="Bernard", last_name="Lemoine", gender="M",
             email="bernard.lemoine@example.fr", birth_date="1952-06-30",
             phone="+33 2 99 31 58 46", address="22 boulevard de la Liberté",
             postal_code="35000", city="Rennes", profession="Retraité", employer=None,
             work_email=None, created_at="2022-10-17 16:40:12", first_visit=1666017612,
             courses=("BUR-EXC-1", "LNG-ANG-A2"), bio="",
             died="2026-09-18",
             relative=dict(name="Sophie Lemoine", email="sophie.lemoine@example.fr",
                           role="heir")),
}

#: A's address as she typed it once (newsletter sign-up form, one support ticket).
A_EMAIL_OTHER_CASE = "Lea.Fontaine@Example.FR"
