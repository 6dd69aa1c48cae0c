"""The demo organisation's records of processing (GDPR Art. 30), ``register.toml``.

Worded after the privacy policies of real French training platforms (purposes, legal bases,
retention: 13 months for audience measurement, 3 years after the last contact for prospects,
the contract plus 5 years, 10 years for accounting records), in French with English variants.
"""

REGISTER_TOML = """\
# Records of processing of the demo organisation (GDPR Art. 30), written by `dsar demo`.
# They feed the information of every answer to an access request (Art. 15(1) a-h, 15(2)).

[controller]
name = "Académie Horizon Formation SAS"
address = "48 rue de la Chapelle, 75018 Paris"
dpo_email = "dpo@horizon-formation.example"

# ---- Data categories (every field of sources.toml carries one) ----
[categories.identification]
label = "Données d'identification (nom, prénom, date de naissance, identifiants)"
label_en = "Identification data (name, date of birth, identifiers)"

[categories.contact]
label = "Coordonnées (adresse e-mail, téléphone, adresse postale)"
label_en = "Contact details (e-mail address, telephone, postal address)"

[categories.professional]
label = "Vie professionnelle (profession, employeur, fonction)"
label_en = "Professional life (occupation, employer, position)"

[categories.training]
label = "Parcours de formation (inscriptions, assiduité, feuilles d'émargement)"
label_en = "Training (enrolments, attendance, attendance sheets)"

[categories.test_results]
label = "Résultats des tests de niveau et évaluations"
label_en = "Level test and assessment results"

[categories.financial]
label = "Informations d'ordre économique et financier (factures, paiements, financement)"
label_en = "Economic and financial information (invoices, payments, funding)"

[categories.authentication]
label = "Données d'authentification (mot de passe chiffré, jamais communiqué)"
label_en = "Authentication data (hashed password, never disclosed)"

[categories.connection]
label = "Données de connexion (adresse IP, journaux, navigateur)"
label_en = "Connection data (IP address, logs, browser)"

[categories.navigation]
label = "Données de navigation (pages consultées, identifiant de traceur)"
label_en = "Browsing data (pages visited, tracker identifier)"

[categories.commercial]
label = "Suivi de la relation commerciale (origine du contact, échanges, propositions)"
label_en = "Commercial relationship (lead source, exchanges, proposals)"

[categories.marketing]
label = "Communications commerciales (abonnements, envois, ouvertures, clics, consentement)"
label_en = "Marketing communications (subscriptions, sends, opens, clicks, consent)"

[categories.correspondence]
label = "Correspondance avec nos services"
label_en = "Correspondence with our staff"

[categories.account_status]
label = "Statut du compte ou de la fiche (dont la limitation du traitement)"
label_en = "Account or record status (including restriction of processing)"

[categories.free_text]
label = "Texte libre (présentation, messages, notes) — peut mentionner des tiers"
label_en = "Free text (profile, messages, notes) — may mention other people"

# ---- Recipients, by name (Art. 15(1)(c)) ----
[recipients.ovh]
name = "OVH SAS"
role = "Hébergement du site, de la plateforme, des bases de données et des journaux \
(sous-traitant, Roubaix, France)"
role_en = "Hosting of the website, platform, databases and logs (processor, Roubaix, France)"
country = "FR"

[recipients.zoho]
name = "Zoho Corporation B.V."
role = "Logiciel de gestion de la relation client, CRM (sous-traitant)"
role_en = "Customer relationship management software, CRM (processor)"
country = "NL"

[recipients.brevo]
name = "Sendinblue SAS (Brevo)"
role = "Envoi des lettres d'information et mesure des ouvertures (sous-traitant, \
55 rue d'Amsterdam, 75008 Paris)"
role_en = "Sending the newsletters and measuring opens (processor, Paris)"
country = "FR"

[recipients.google]
name = "Google Ireland Limited (Google Analytics), avec Google LLC"
role = "Mesure d'audience du site (sous-traitant)"
role_en = "Website audience measurement (processor)"
country = "IE"

[recipients.stripe]
name = "Stripe Payments Europe, Ltd."
role = "Paiement en ligne par carte bancaire (prestataire de services de paiement)"
role_en = "Online card payments (payment service provider)"
country = "IE"

[recipients.caisse_des_depots]
name = "Caisse des Dépôts et Consignations (Mon Compte Formation)"
role = "Gestion du CPF : inscription, attestation d'assiduité et facturation des formations \
financées par votre CPF (responsable de traitement distinct)"
role_en = "Personal training account (CPF): enrolment, attendance and invoicing of the courses \
it funds (separate controller)"
country = "FR"

[recipients.employer]
name = "Votre employeur ou votre OPCO, lorsqu'il finance votre formation"
role = "Suivi de l'assiduité et des résultats des formations qu'il finance"
role_en = "Your employer or skills operator (OPCO) when it funds your course: attendance \
and results of the courses it funds"

[recipients.tax_authority]
name = "Administration fiscale (DGFiP) et commissaire aux comptes"
role = "Contrôle des pièces comptables, sur demande"
role_en = "Inspection of accounting records, on request"
country = "FR"

# ---- Processing ----
[processing.training]
purpose = "Gestion des inscriptions, du suivi pédagogique, de l'assiduité et des attestations \
de formation"
purpose_en = "Managing enrolments, learning follow-up, attendance and training certificates"
legal_basis = "contract"
categories = ["identification", "contact", "professional", "training", "test_results", \
"authentication", "connection", "navigation", "free_text", "financial", "account_status"]
recipients = ["ovh", "caisse_des_depots", "employer"]
retention = "Pendant la durée du contrat de formation, puis 5 ans après la fin de la relation"
retention_en = "For the duration of the training contract, then 5 years after it ends"
origin = "Vous-même, lors de votre inscription ; votre employeur ou votre OPCO lorsqu'il vous \
inscrit"
origin_en = "Yourself, when you enrolled; your employer or skills operator when it enrolled you"
sources = ["platform"]
automated_decision = false

[processing.invoicing]
purpose = "Facturation, encaissement des paiements et tenue de la comptabilité"
purpose_en = "Invoicing, collecting payments and keeping the accounts"
legal_basis = "legal_obligation"
categories = ["identification", "financial", "training"]
recipients = ["ovh", "stripe", "tax_authority"]
retention = "10 ans à compter de la clôture de l'exercice (Code de commerce, art. L123-22)"
retention_en = "10 years from the end of the financial year (French Commercial Code, \
art. L123-22)"
origin = "Vous-même, lors de votre inscription et de votre paiement"
origin_en = "Yourself, when you enrolled and paid"
sources = ["platform"]
automated_decision = false

[[processing.invoicing.transfers]]
recipient = "stripe"
country = "US"
safeguard = "Décision d'adéquation EU-US Data Privacy Framework (Stripe, Inc. est certifiée)"
safeguard_en = "EU-US Data Privacy Framework adequacy decision (Stripe, Inc. is certified)"

[processing.crm]
purpose = "Gestion de la relation commerciale avec nos clients et prospects : demandes \
d'information, devis, relances"
purpose_en = "Managing our relationship with customers and prospects: enquiries, quotes, \
follow-ups"
legal_basis = "legitimate_interests"
categories = ["identification", "contact", "professional", "commercial", "financial", \
"correspondence", "free_text", "account_status"]
recipients = ["zoho"]
retention = "3 ans à compter du dernier contact de votre part (recommandation de la CNIL)"
retention_en = "3 years from your last contact with us (CNIL recommendation)"
origin = "Vous-même (formulaire de contact, salons, webinaires) ; votre employeur lorsqu'il \
achète une formation pour vous"
origin_en = "Yourself (contact form, fairs, webinars); your employer when it buys a course \
for you"
sources = ["crm"]
automated_decision = false

[[processing.crm.transfers]]
recipient = "zoho"
country = "IN"
safeguard = "Clauses contractuelles types de la Commission européenne (décision 2021/914), \
pour l'assistance technique depuis l'Inde"
safeguard_en = "European Commission standard contractual clauses (decision 2021/914), for \
technical support from India"

[processing.newsletter]
purpose = "Envoi de notre lettre d'information et de nos offres de formation par e-mail"
purpose_en = "Sending our newsletter and training offers by e-mail"
legal_basis = "consent"
categories = ["identification", "contact", "marketing", "connection"]
recipients = ["brevo"]
retention = "Jusqu'au retrait de votre consentement (lien de désinscription), puis 3 ans \
pour la preuve du consentement"
retention_en = "Until you withdraw your consent (unsubscribe link), then 3 years as proof \
of consent"
origin = "Vous-même, lors de votre abonnement à la lettre d'information"
origin_en = "Yourself, when you subscribed to the newsletter"
sources = ["newsletter"]
automated_decision = false

[processing.audience]
purpose = "Mesure d'audience du site et amélioration de nos contenus (Google Analytics)"
purpose_en = "Website audience measurement and improving our content (Google Analytics)"
legal_basis = "consent"
categories = ["navigation"]
recipients = ["google"]
retention = "13 mois"
retention_en = "13 months"
origin = "Collectées automatiquement par un traceur déposé avec votre accord"
origin_en = "Collected automatically by a tracker set with your consent"
sources = ["analytics"]
automated_decision = false

[[processing.audience.transfers]]
recipient = "google"
country = "US"
safeguard = "Décision d'adéquation EU-US Data Privacy Framework (Google LLC est certifiée)"
safeguard_en = "EU-US Data Privacy Framework adequacy decision (Google LLC is certified)"

[processing.security_logs]
purpose = "Sécurité du site, prévention de la fraude et des accès abusifs (journaux du \
serveur web)"
purpose_en = "Website security, preventing fraud and abusive access (web server logs)"
legal_basis = "legitimate_interests"
categories = ["connection", "navigation"]
recipients = ["ovh"]
retention = "1 an (pratique recommandée par la CNIL ; durée de la LCEN pour les données de \
connexion)"
retention_en = "1 year (CNIL recommended practice; the LCEN period for connection data)"
origin = "Collectées automatiquement par nos serveurs lors de vos visites"
origin_en = "Collected automatically by our servers when you visit"
sources = ["access_logs"]
automated_decision = false

[processing.support]
purpose = "Assistance aux utilisateurs : réponses aux demandes adressées au service client"
purpose_en = "User support: answering the requests sent to customer service"
legal_basis = "contract"
categories = ["identification", "contact", "correspondence", "free_text"]
recipients = ["ovh"]
retention = "Pendant la durée du contrat, puis 5 ans après la fin de la relation"
retention_en = "For the duration of the contract, then 5 years after it ends"
origin = "Vous-même, lorsque vous écrivez au service client"
origin_en = "Yourself, when you write to customer service"
sources = ["support"]
automated_decision = false
"""
