"""The vocabulary of the demo organisation: French first and last names, towns, streets,
professions, employers, the course catalogue. Plain data, no logic.

Every e-mail address of the generated population is built from these names (see
:mod:`.people`), so the slugs of the first names must be distinct, and so must those of the
last names (``tests/test_demo_org.py`` checks it).
"""

from __future__ import annotations


def _words(text: str) -> list[str]:
    """The words of ``text`` (long name lists read better as prose)."""
    return text.split()


# (first name, "F" or "M"). Accents on purpose: the exports and PDFs must carry them.
FIRST_NAMES: tuple[tuple[str, str], ...] = tuple(
    [(n, "F") for n in _words(
        "Camille Léa Manon Chloé Inès Jade Louise Emma Alice Lina Rose Anna Zoé Léna Juliette "
        "Ambre Mila Agathe Margaux Sarah Clémence Lucie Mathilde Élise Anaïs Pauline Marine "
        "Océane Laura Justine Julie Élodie Émilie Aurélie Céline Sandrine Nathalie Isabelle "
        "Sylvie Valérie Stéphanie Sophie Catherine Christine Véronique Martine Nicole Brigitte "
        "Hélène Agnès Cécile Delphine Virginie Karine Laëtitia Gaëlle Maëlle Noémie Coralie "
        "Charlotte Amandine Audrey Morgane Mélanie Estelle Annabelle Bérénice Eugénie Héloïse "
        "Joséphine Thérèse Geneviève Françoise Josiane Monique Fatima Yasmine Samia Nadia "
        "Leïla Myriam Aïcha Khadija Salomé Romane Capucine Apolline Victoire Daphné Maïwenn "
        "Soizic Nolwenn Gwenaëlle Anne-Sophie Marie-Claire Marie-Pierre Anne-Laure"
    )]
    + [(n, "M") for n in _words(
        "Lucas Hugo Louis Gabriel Arthur Raphaël Jules Adam Léo Nathan Tom Théo Noah Ethan "
        "Maël Sacha Paul Victor Antoine Thomas Maxime Alexandre Nicolas Julien Quentin "
        "Romain Florian Kévin Jérémy Benoît Mathieu Sébastien Guillaume Frédéric Stéphane "
        "Christophe Olivier Laurent Philippe Patrick Pascal Thierry Éric Didier Dominique "
        "Bernard Michel Jean Pierre Jacques François Gérard Alain Daniel Yves Gilles Hervé "
        "Loïc Yannick Erwan Gwendal Ronan Mehdi Karim Rachid Samir Yacine Bilal Amine Moussa "
        "Mamadou Ibrahim Youssef Anis Noé Timothée Baptiste Clément Aurélien Jérôme Joël "
        "Cédric Ludovic Fabrice Lionel Grégoire Marius Côme Augustin Bastien Valentin "
        "Jean-Pierre Jean-Marc Jean-Luc Pierre-Yves Jean-Baptiste"
    )]
)

# Compound surnames are written with "_" here and a space in the data.
LAST_NAMES: tuple[str, ...] = tuple(dict.fromkeys(n.replace("_", " ") for n in _words(
    "Martin Bernard Dubois Thomas Robert Richard Petit Durand Leroy Moreau Simon Laurent "
    "Lefèbvre Michel Garcia David Bertrand Roux Vincent Fournier Morel Girard André Mercier "
    "Dupont Lambert Bonnet François Martinez Legrand Garnier Faure Rousseau Blanc Guérin "
    "Muller Henry Roussel Nicolas Perrin Morin Mathieu Clément Gauthier Dumont Lopez "
    "Fontaine Chevalier Robin Masson Sanchez Gérard Nguyen Boyer Denis Lemaire Duval Joly "
    "Gautier Roger Roche Roy Noël Meyer Lucas Meunier Jean Pérez Marchand Dufour Blanchard "
    "Marie Barbier Brun Dumas Brunet Schmitt Leroux Colin Fernandez Pierre Renard Arnaud "
    "Rolland Caron Aubert Giraud Leclerc Vidal Bourgeois Renaud Lemoine Picard Gaillard "
    "Philippe Leclercq Lacroix Fabre Dupuis Olivier Rodriguez Hubert Louis Charles Guillot "
    "Rivière Guillaume Adam Rey Moulin Gonzalez Berger Lecomte Ménard Fleury Deschamps "
    "Carpentier Julien Benoît Paris Maillard Marchal Aubry Vasseur Renault Jacquet Collet "
    "Prévost Poirier Charpentier Royer Huet Baron Dupuy Pons Paul Laine Carré Breton Rémy "
    "Schneider Perrot Barre Marty Cousin Lebrun Hoarau Bégué Payet Grondin Leblanc Besson "
    "Germain Langlois Bailly Hamon Tessier Cordier Humbert Lemaître Navarro Jacob Weber "
    "Poulain Lebon Laporte Delmas Lejeune Gilbert Bouvier Bouchet Chauvin Millet Guillou "
    "Lefort Maréchal Texier Pasquier Chartier Bonnin Hoareau Coulon Daniel Carlier "
    "Ferrand Tanguy Gros Bousquet Levêque Rocher Bertin Etienne Dos_Santos Da_Silva Ferreira "
    "Benali Haddad Mansouri Belkacem Cherif Diallo Traoré Diop Ndiaye Camara Kone Sow Tran "
    "Pham Le_Gall Le_Goff Le_Bihan Kerbrat Quéméner Riou Cadiou Lagarde Castel "
    "Marin Barthélemy Jourdan Delattre Vallée Hervé Lacombe Brunel Coste Bourdon Gaudin "
    "Auger Teixeira Boucher Clerc Mallet Roques Ollivier Pichon Blondel Salmon Guyot Hebert "
    "Gallet Thibault Thiébaut Raynaud Morvan Lamy Lemarchand Jolly Bodin Descamps "
    "Devaux Verdier Guichard Pottier Laurens Granger Mathis Bazin Chevallier Cosson Ricard "
    "Peltier Joubert Lacoste Collin Delage Favre Vial Leduc Blin Couturier"
)))

# (town, postal code, telephone zone digit 1-5). A few big towns have several codes.
TOWNS: tuple[tuple[str, str, int], ...] = (
    *((f"Paris {n}e" if n > 1 else "Paris 1er", f"750{n:02d}", 1) for n in range(1, 21)),
    ("Lyon 3e", "69003", 4), ("Lyon 7e", "69007", 4), ("Lyon 8e", "69008", 4),
    ("Marseille 5e", "13005", 4), ("Marseille 8e", "13008", 4), ("Marseille 13e", "13013", 4),
    ("Toulouse", "31000", 5), ("Toulouse", "31400", 5), ("Nice", "06000", 4),
    ("Nantes", "44000", 2), ("Nantes", "44300", 2), ("Montpellier", "34000", 4),
    ("Strasbourg", "67000", 3), ("Bordeaux", "33000", 5), ("Bordeaux", "33800", 5),
    ("Lille", "59000", 3), ("Rennes", "35000", 2), ("Reims", "51100", 3),
    ("Saint-Étienne", "42000", 4), ("Le Havre", "76600", 2), ("Toulon", "83000", 4),
    ("Grenoble", "38000", 4), ("Dijon", "21000", 3), ("Angers", "49000", 2),
    ("Nîmes", "30000", 4), ("Villeurbanne", "69100", 4), ("Clermont-Ferrand", "63000", 4),
    ("Le Mans", "72000", 2), ("Aix-en-Provence", "13100", 4), ("Brest", "29200", 2),
    ("Tours", "37000", 2), ("Amiens", "80000", 3), ("Limoges", "87000", 5),
    ("Annecy", "74000", 4), ("Perpignan", "66000", 4), ("Boulogne-Billancourt", "92100", 1),
    ("Metz", "57000", 3), ("Besançon", "25000", 3), ("Orléans", "45000", 2),
    ("Saint-Denis", "93200", 1), ("Rouen", "76000", 2), ("Argenteuil", "95100", 1),
    ("Montreuil", "93100", 1), ("Mulhouse", "68100", 3), ("Caen", "14000", 2),
    ("Nancy", "54000", 3), ("Pau", "64000", 5), ("La Rochelle", "17000", 5),
    ("Poitiers", "86000", 5), ("Avignon", "84000", 4), ("Béziers", "34500", 4),
    ("Colmar", "68000", 3), ("Quimper", "29000", 2), ("Vannes", "56000", 2),
    ("Chambéry", "73000", 4), ("Évry-Courcouronnes", "91000", 1), ("Créteil", "94000", 1),
    ("Nanterre", "92000", 1), ("Versailles", "78000", 1), ("Vitry-sur-Seine", "94400", 1),
    ("Troyes", "10000", 3), ("Valence", "26000", 4), ("Lorient", "56100", 2),
    ("Niort", "79000", 5), ("Saint-Malo", "35400", 2), ("Bayonne", "64100", 5),
    ("Cergy", "95000", 1), ("Ajaccio", "20000", 4), ("Angoulême", "16000", 5),
    ("Montauban", "82000", 5), ("Agen", "47000", 5), ("Périgueux", "24000", 5),
    ("Saint-Nazaire", "44600", 2), ("Laval", "53000", 2), ("Cholet", "49300", 2),
    ("Bourges", "18000", 2), ("Blois", "41000", 2), ("Chartres", "28000", 2),
    ("Dunkerque", "59140", 3), ("Roubaix", "59100", 3), ("Tourcoing", "59200", 3),
    ("Calais", "62100", 3), ("Arras", "62000", 3), ("Charleville-Mézières", "08000", 3),
)

STREET_KINDS = ("rue", "rue", "rue", "avenue", "boulevard", "allée", "impasse", "chemin",
                "place", "quai")
STREET_NAMES = (
    "des Lilas", "Victor-Hugo", "Jean-Jaurès", "de la République", "du Général-de-Gaulle",
    "Pasteur", "des Écoles", "de la Gare", "du Moulin", "Émile-Zola", "Gambetta",
    "de Verdun", "du Maréchal-Foch", "des Acacias", "Saint-Exupéry", "de la Paix",
    "des Tilleuls", "du Château", "Voltaire", "Jules-Ferry", "Anatole-France", "de Bretagne",
    "des Roses", "Molière", "Jean-Moulin", "Paul-Bert", "de l'Église", "des Peupliers",
    "Nationale", "de la Liberté", "des Cerisiers", "Aristide-Briand", "Carnot", "Lamartine",
    "du 8-Mai-1945", "Édouard-Herriot", "Louis-Pasteur", "des Marronniers", "de Provence",
    "du Stade", "Henri-Barbusse", "Charles-de-Gaulle", "de la Fontaine", "des Vignes",
)

# (masculine, feminine)
PROFESSIONS: tuple[tuple[str, str], ...] = (
    ("Infirmier", "Infirmière"), ("Aide-soignant", "Aide-soignante"),
    ("Comptable", "Comptable"), ("Assistant de direction", "Assistante de direction"),
    ("Développeur web", "Développeuse web"), ("Chef de projet", "Cheffe de projet"),
    ("Commercial", "Commerciale"), ("Responsable RH", "Responsable RH"),
    ("Enseignant", "Enseignante"), ("Demandeur d'emploi", "Demandeuse d'emploi"),
    ("Gestionnaire de paie", "Gestionnaire de paie"),
    ("Technicien de maintenance", "Technicienne de maintenance"),
    ("Formateur", "Formatrice"), ("Artisan", "Artisane"),
    ("Agent immobilier", "Agente immobilière"), ("Secrétaire médical", "Secrétaire médicale"),
    ("Graphiste", "Graphiste"), ("Chargé de communication", "Chargée de communication"),
    ("Électricien", "Électricienne"), ("Conducteur de travaux", "Conductrice de travaux"),
    ("Pharmacien", "Pharmacienne"), ("Masseur-kinésithérapeute", "Masseuse-kinésithérapeute"),
    ("Auxiliaire de puériculture", "Auxiliaire de puériculture"),
    ("Chef de rayon", "Cheffe de rayon"), ("Cuisinier", "Cuisinière"),
    ("Auto-entrepreneur", "Auto-entrepreneuse"), ("Étudiant", "Étudiante"),
    ("Cadre commercial", "Cadre commerciale"), ("Juriste", "Juriste"),
    ("Logisticien", "Logisticienne"), ("Agent d'accueil", "Agente d'accueil"),
    ("Éducateur spécialisé", "Éducatrice spécialisée"),
)

# Fictitious employers (a work e-mail domain each, under the reserved .example TLD).
EMPLOYERS: tuple[tuple[str, str], ...] = (
    ("Clinique Saint-Roch", "clinique-saint-roch.example"),
    ("Transports Moreau & Fils", "transports-moreau.example"),
    ("Boulangeries Delmas", "delmas-boulangeries.example"),
    ("Cabinet Lenoir Expertise", "lenoir-expertise.example"),
    ("Atelier Numérique du Rhône", "atelier-numerique-rhone.example"),
    ("Mutuelle des Cévennes", "mutuelle-cevennes.example"),
    ("Bâti-Sud Construction", "batisud.example"),
    ("Hôtel Le Belvédère", "hotel-belvedere.example"),
    ("EHPAD Les Glycines", "ehpad-glycines.example"),
    ("Groupe Hexagone Assurances", "hexagone-assurances.example"),
    ("Pharmacie de la Place", "pharmacie-place.example"),
    ("Mairie de Saint-Amand", "mairie-saint-amand.example"),
    ("Logistique Atlantique", "logistique-atlantique.example"),
    ("Agence Immo Centre", "immo-centre.example"),
    ("Crèche Les Petits Pas", "petits-pas.example"),
    ("Garage Fabre Automobiles", "fabre-auto.example"),
)

# Personal mailboxes: reserved domains (RFC 2606 / RFC 6761), so no demo message can ever
# reach a real mailbox, but shaped like the French providers people actually use.
MAIL_DOMAINS = (
    "orange.example", "free.example", "laposte.example", "sfr.example", "gmail.example",
    "hotmail.example", "yahoo.example", "outlook.example", "wanadoo.example", "icloud.example",
    "example.com", "example.net",
)

# (code, title, hours, price in euros, subject of its level test or "")
COURSES: tuple[tuple[str, str, int, int, str], ...] = (
    ("BUR-EXC-2", "Excel : niveau avancé", 21, 890, "Excel"),
    ("BUR-EXC-1", "Excel : les fondamentaux", 14, 590, "Excel"),
    ("BUR-WRD-T", "Préparation à la certification TOSA Word", 20, 790, "Bureautique"),
    ("LNG-ANG-B2", "Anglais professionnel (B2)", 40, 1690, "Anglais"),
    ("LNG-ANG-A2", "Anglais : remise à niveau (A2)", 30, 1190, "Anglais"),
    ("LNG-ESP-A2", "Espagnol (A2)", 30, 1190, "Espagnol"),
    ("LNG-FLE-B1", "Français langue étrangère (B1)", 60, 1990, "Français"),
    ("MGT-EQP-1", "Manager une équipe pour la première fois", 21, 1290, ""),
    ("MGT-PRJ-AG", "Gestion de projet agile (Scrum)", 28, 1490, ""),
    ("SAN-PAL-3", "Soins palliatifs : accompagnement de fin de vie", 21, 980, ""),
    ("SAN-PET-1", "Petite enfance : éveil et bien-être", 35, 1150, ""),
    ("SEC-SST", "Sauveteur secouriste du travail (SST)", 14, 290, ""),
    ("QUA-HACCP", "Hygiène alimentaire HACCP", 14, 390, ""),
    ("DEV-PY-1", "Python pour l'analyse de données", 35, 1890, "Python"),
    ("DEV-WEB-1", "Développement web : HTML, CSS, JavaScript", 70, 2890, ""),
    ("CPT-PAI-1", "Gestion de la paie", 35, 1590, ""),
    ("CPT-BIL-1", "Comptabilité : du bilan au compte de résultat", 28, 1290, ""),
    ("RH-REC-1", "Recruter sans discriminer", 7, 450, ""),
    ("MKT-DIG-1", "Marketing digital et réseaux sociaux", 28, 1390, ""),
    ("IMM-ALUR", "Formation continue loi ALUR (immobilier)", 14, 420, ""),
    ("IA-GEN-1", "L'IA générative au travail", 7, 490, ""),
    ("BUR-PPT-1", "PowerPoint : des présentations efficaces", 14, 490, "Bureautique"),
)

FUNDINGS = ("CPF", "CPF", "CPF", "entreprise", "entreprise", "personnel", "OPCO",
            "France Travail")

CRM_OWNERS = ("Sophie Laborde", "Mehdi Ouali", "Claire Vasseur", "Thomas Giraud")
SUPPORT_AGENTS = ("Nadia (support)", "Julien (support)", "Émilie (support)", "Paul (support)")
