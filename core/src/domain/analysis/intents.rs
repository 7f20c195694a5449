//! What the caller wanted, read from the caller's own words with weighted patterns per
//! language; some patterns hold only in some sectors (for a plumber "combien ça coûterait"
//! asks for a quote, in a salon it asks for a price). Each intent's confidence combines the
//! weights of its matching patterns (1 - Π(1 - w)); the words of its strongest match are
//! kept as its trigger.

use std::sync::OnceLock;

use regex::{Regex, RegexSet, RegexSetBuilder};

use super::{AnalysisLanguage, Intent, IntentName};
use crate::domain::sector::Sector;

/// Below this confidence an intent is not reported.
pub const MIN_CONFIDENCE: f64 = 0.5;

/// One pattern of an intent.
struct Rule {
    intent: IntentName,
    weight: f64,
    pattern: &'static str,
    /// Empty: every sector.
    only: &'static [Sector],
    /// Sectors where the pattern means something else.
    except: &'static [Sector],
}

const fn rule(intent: IntentName, weight: f64, pattern: &'static str) -> Rule {
    Rule {
        intent,
        weight,
        pattern,
        only: &[],
        except: &[],
    }
}

const fn only(
    intent: IntentName,
    weight: f64,
    pattern: &'static str,
    sectors: &'static [Sector],
) -> Rule {
    Rule {
        intent,
        weight,
        pattern,
        only: sectors,
        except: &[],
    }
}

const fn except(
    intent: IntentName,
    weight: f64,
    pattern: &'static str,
    sectors: &'static [Sector],
) -> Rule {
    Rule {
        intent,
        weight,
        pattern,
        only: &[],
        except: sectors,
    }
}

use IntentName::{
    Booking, CallbackRequest, Cancellation, Complaint, Information, Other, QuoteRequest,
    Reschedule, TransferToHuman,
};
use Sector::{Craftsman, LiberalProfession, Restaurant};

const TRADES: &[Sector] = &[Craftsman];
const NOT_TRADES: &[Sector] = &[Craftsman];

const FRENCH: &[Rule] = &[
    // Booking.
    rule(
        Booking,
        0.75,
        r"\b(prendre|avoir|fixer|caler|réserver|booker|obtenir|poser)\b[^.?!]{0,30}\b(rendez-vous|rendez vous|rdv|créneau|table|place|consultation|séance)",
    ),
    rule(Booking, 0.7, r"\bréserv(er|ation|é)\b"),
    rule(Booking, 0.55, r"\b(une|la|de) table\b"),
    rule(
        Booking,
        0.4,
        r"\b(un|le|mon) (rendez-vous|rendez vous|rdv)\b",
    ),
    rule(
        Booking,
        0.45,
        r"\b(je voudrais|j'aimerais|je souhaiterais|est-ce que je peux|je peux) (venir|passer)\b",
    ),
    rule(
        Booking,
        0.45,
        r"\b(vous avez|avez-vous|il vous reste|vous auriez)\b[^.?!]{0,25}\b(créneau|place|disponibilité|dispo|de la place)",
    ),
    rule(
        Booking,
        0.45,
        r"\bpour (une|un|des) (coupe|couleur|brushing|soin|manucure|pédicure|épilation|balayage|mèches|shampoing|massage|coloration|permanente|barbe)",
    ),
    rule(Booking, 0.5, r"\b(pour|à) \d+ (personnes|couverts)\b"),
    rule(
        Booking,
        0.35,
        r"\b(ça me va|c'est parfait pour moi|je prends (ce|le) créneau|va pour)\b",
    ),
    only(
        Booking,
        0.55,
        r"\b(pouvez|pourriez|pourrait|peut)[- ](vous|on|quelqu'un)\b[^.?!]{0,25}\b(venir|passer|intervenir|envoyer quelqu'un)",
        TRADES,
    ),
    only(
        Booking,
        0.45,
        r"\b(intervention|dépannage|qu'un technicien|un plombier|un électricien|un serrurier)\b",
        TRADES,
    ),
    only(
        Booking,
        0.4,
        r"\b(voir|consulter) (le|la|un|une) (docteur|médecin|dentiste|kiné|avocat|avocate|comptable|ostéo)",
        &[LiberalProfession],
    ),
    // Reschedule.
    rule(
        Reschedule,
        0.85,
        r"\b(décaler|déplacer|reporter|avancer|changer|modifier|repousser)\b[^.?!]{0,40}\b(rendez-vous|rendez vous|rdv|réservation|créneau|heure|horaire|date|séance|consultation|intervention)",
    ),
    rule(Reschedule, 0.6, r"\b(décaler|reporter|repousser)\b"),
    rule(
        Reschedule,
        0.55,
        r"\b(un autre|une autre) (jour|créneau|horaire|date|heure)\b",
    ),
    rule(
        Reschedule,
        0.45,
        r"\bplutôt (lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|la semaine|le matin|l'après-midi|demain)",
    ),
    rule(
        Reschedule,
        0.6,
        r"\b(changer|déplacer|décaler|avancer|bouger|passer) (ça|le|la|mon|ma|notre)\b[^.?!]{0,20}\b(à|au|en|pour) (lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|demain|la semaine|plus tard|\d)",
    ),
    // Cancellation.
    rule(Cancellation, 0.85, r"\bannul(er|ation|e|é|ée)\b"),
    rule(
        Cancellation,
        0.85,
        r"\b(résilier|résiliation|me désabonner|désabonnement|désinscri)",
    ),
    rule(
        Cancellation,
        0.6,
        r"\b(arrêter|stopper|mettre fin à|interrompre) (mon|l'|le|notre|ma)\s?(abonnement|contrat|commande)",
    ),
    rule(
        Cancellation,
        0.55,
        r"\b(je ne (pourrai|pourrais|vais pouvoir|peux) pas|on ne (pourra|pourrait|peut) pas|je ne vais pas pouvoir) (venir|être là|honorer|être présente?|y aller)",
    ),
    rule(
        Cancellation,
        0.45,
        r"\b(ne plus|plus besoin|n'ai plus besoin)\b[^.?!]{0,20}\b(venir|besoin|abonnement|commande)",
    ),
    // Quote request.
    rule(
        QuoteRequest,
        0.85,
        r"\b(un|des|votre|vos|petit|nouveau|gratuit) devis\b",
    ),
    rule(QuoteRequest, 0.6, r"\bdevis (pour|de|d')"),
    rule(QuoteRequest, 0.4, r"\bdevis\b"),
    rule(
        QuoteRequest,
        0.7,
        r"\b(estimation|estimer|chiffrage|chiffrer)\b",
    ),
    only(
        QuoteRequest,
        0.6,
        r"\b(combien|quel prix|quel tarif|quel montant|ordre de prix|idée du prix|idée du coût)\b[^.?!]{0,40}\b(coûter|coûterait|coûte|faire|refaire|changer|installer|remplacer|poser|rénover|prendre)",
        TRADES,
    ),
    rule(
        QuoteRequest,
        0.5,
        r"\b(une idée du (prix|coût|tarif|budget)|ordre de prix|à peu près combien)",
    ),
    only(
        QuoteRequest,
        0.55,
        r"\b(traiteur|privatis|groupe de \d+|événement|mariage|anniversaire)\b",
        &[Restaurant],
    ),
    // Complaint.
    rule(
        Complaint,
        0.85,
        r"\b(réclamation|plainte|me plaindre|porter plainte)\b",
    ),
    rule(
        Complaint,
        0.7,
        r"\b(toujours pas|jamais|pas encore) (reçu|arrivé|arrivée|livré|livrée|eu de nouvelles|été rappelée?|été remboursée?)",
    ),
    rule(Complaint, 0.6, r"\b(pas|rien) reçu\b"),
    except(
        Complaint,
        0.6,
        r"\b(cassé|cassée|abîmé|abîmée|endommagé|endommagée|défectueux|défectueuse|ne fonctionne (pas|plus)|ne marche (pas|plus)|en panne|rayé|rayée)\b",
        NOT_TRADES,
    ),
    rule(
        Complaint,
        0.7,
        r"\b(erreur|facturé deux fois|débité deux fois|prélevé deux fois|trop facturé|double facturation|trop payé|surfacturé|mauvaise taille|pas la bonne|pas le bon|mauvais article|mauvaise commande|il manque)",
    ),
    rule(
        Complaint,
        0.65,
        r"\b(inadmissible|inacceptable|scandaleux|honteux|lamentable|déçu|déçue|mécontent|mécontente|pas normal|pas satisfait|pas satisfaite|pas content|pas contente|pas sérieux|n'importe quoi|ras-le-bol|marre|pas terrible|pas top)\b",
    ),
    rule(
        Complaint,
        0.65,
        r"\b(je me permets de vous signaler|je tenais à vous signaler|je voulais vous signaler|je dois vous signaler|signaler un problème|un souci avec|un problème avec)",
    ),
    rule(Complaint, 0.5, r"\b(en retard|du retard|retard de)\b"),
    rule(
        Complaint,
        0.5,
        r"\b(attendu|attends|patienté)\b[^.?!]{0,25}\b(heure|heures|semaines|jours|mois|minutes)\b",
    ),
    rule(
        Complaint,
        0.55,
        r"\b(rembourse|remboursement|remboursée?|geste commercial|dédommag)",
    ),
    rule(
        Complaint,
        0.45,
        r"\b(désagréable|impoli|impolie|mal reçue?|mal coupé|raté|ratée|brûlé|froid|froide|malade)\b",
    ),
    rule(
        Complaint,
        0.7,
        r"\b(je ne (voudrais|veux) pas (vous )?(embêter|déranger|faire d'histoires?|être pénible)|sans vouloir (vous )?(embêter|déranger|être pénible)|je suis désolée? de (vous )?(embêter|déranger))",
    ),
    rule(
        Complaint,
        0.6,
        r"\b(fuit|fuite|coule|goutte|cassé|cassée|en panne|ne marche plus|ne fonctionne plus|se décolle|tombe)\b[^.?!]{0,20}\b(à nouveau|encore|de nouveau|déjà)\b",
    ),
    rule(
        Complaint,
        0.45,
        r"\b(on m'avait (dit|promis)|vous m'aviez (dit|promis)|on nous avait (dit|promis)|il était prévu)",
    ),
    rule(
        Complaint,
        0.5,
        r"\b(contrariée?|embêtée?|énervée?|agacée?)\b",
    ),
    rule(
        Complaint,
        0.55,
        r"\b(gâché|gâchée|personne (n'est venu|ne m'a|ne nous a)|plus cher que (le|prévu)|je ne paierai pas|je ne vais pas payer|frais supplémentaires)",
    ),
    // Callback request.
    rule(
        CallbackRequest,
        0.85,
        r"\b(rappel(er|ez|le|lez)?[- ]moi|me rappeler|nous rappeler|qu'on me rappelle|qu'(il|elle|on|vous) me rappel|être rappelée?|me recontacter|me rappelle|rappelez-moi|me faire rappeler|qu'on me recontacte)\b",
    ),
    rule(
        CallbackRequest,
        0.55,
        r"\b(laisser|laisse|prendre) (un|mon) (message|numéro|coordonnées)",
    ),
    // Information.
    rule(
        Information,
        0.75,
        r"\b(horaires?|heures? d'ouverture|êtes-vous ouverts?|vous êtes ouverts?|vous ouvrez|vous fermez|ouvert (le|ce|demain|dimanche|lundi)|fermé (le|ce|demain|dimanche|lundi))",
    ),
    except(
        Information,
        0.7,
        r"\b(quel est le prix|quels sont (vos|les) (prix|tarifs)|vos tarifs|le tarif|les tarifs|combien (coûte|coûtent|ça coûte|c'est|ça fait|vous prenez))",
        NOT_TRADES,
    ),
    rule(
        Information,
        0.7,
        r"\b(en stock|encore disponible|vous avez encore|vous auriez|vous l'avez|disponible en|en rayon|réapprovisionn|vous vendez)",
    ),
    rule(
        Information,
        0.75,
        r"\b(où en est|suivre|suivi de|le statut de|l'état de)\b[^.?!]{0,20}\b(commande|colis|livraison|dossier|réparation|demande)",
    ),
    rule(
        Information,
        0.6,
        r"\b(votre adresse|l'adresse|où (êtes-vous|vous êtes|se trouve)|comment venir|vous êtes où|parking|accessible)",
    ),
    rule(
        Information,
        0.6,
        r"\b(est-ce que vous (faites|proposez|acceptez|prenez|livrez)|vous (faites|proposez|acceptez|livrez) (les|des|la|le)|vous prenez la carte|tickets? restaurant|chèques?)",
    ),
    rule(
        Information,
        0.6,
        r"\b(je (voudrais|voulais|souhaiterais|souhaitais) (savoir|me renseigner|un renseignement|une information|des informations)|savoir si|petite question|un renseignement)",
    ),
    rule(
        Information,
        0.55,
        r"\b(allerg|sans gluten|végétarien|vegan|végétalien|la carte|le menu|plat du jour)",
    ),
    rule(Information, 0.5, r"\b(délai|délais|combien de temps)\b"),
    rule(
        Information,
        0.6,
        r"\b(qu'est-ce qu'il faut (apporter|fournir|envoyer|prévoir)|quels (papiers|documents|justificatifs)|vous livrez (à|en|sur|dans)|vous expédiez)",
    ),
    rule(
        Information,
        0.6,
        r"\b(qu'est-ce qu'il faut (apporter|fournir|envoyer|prévoir)|quels (papiers|documents|justificatifs)|vous livrez (à|en|sur|dans)|vous expédiez)",
    ),
    // Transfer to a person.
    rule(
        TransferToHuman,
        0.85,
        r"\b(parler|passer|joindre|avoir|discuter)\b[^.?!]{0,25}\b(quelqu'un|une personne|un humain|un être humain|une vraie personne|responsable|gérant|gérante|directeur|directrice|patron|patronne|conseiller|conseillère|manager|chef|le docteur|la docteure|maître|le plombier|la secrétaire)",
    ),
    rule(
        TransferToHuman,
        0.85,
        r"\b(passez-moi|passer quelqu'un|transférer|transférez|mettre en relation)\b",
    ),
    rule(
        TransferToHuman,
        0.7,
        r"\b(pas (à|avec) (un|une) (robot|machine)|pas un robot|vrai humain|une vraie personne)",
    ),
    // Anything else.
    rule(
        Other,
        0.85,
        r"\b(erreur de numéro|mauvais numéro|faux numéro|je me suis trompée? de numéro|pas le bon numéro|composé le mauvais)",
    ),
    rule(
        Other,
        0.8,
        r"\b(candidature|mon cv|offre d'emploi|vous recrutez|embauchez|un stage|postuler|alternance)",
    ),
    rule(
        Other,
        0.75,
        r"\b(je vous appelle de la part de|je suis commercial|proposer nos services|vous proposer (nos|notre|une offre)|partenariat|publicité|prospection|démarchage|sondage|enquête)",
    ),
];

const ENGLISH: &[Rule] = &[
    // Booking.
    rule(
        Booking,
        0.75,
        r"\b(book|make|get|schedule|set up|arrange|grab|reserve)\b[^.?!]{0,30}\b(appointment|table|slot|session|consultation|visit|reservation|booking)",
    ),
    rule(Booking, 0.7, r"\b(book|booking|reserve|reservation)\b"),
    rule(Booking, 0.5, r"\b(a|the) table\b"),
    rule(Booking, 0.4, r"\b(an|the|my) appointment\b"),
    rule(
        Booking,
        0.45,
        r"\b(do you have|have you got|any) (anything|availability|a slot|slots|space|room|openings?)\b",
    ),
    rule(
        Booking,
        0.45,
        r"\b(for a|for an) (haircut|cut|trim|colour|color|blow-?dry|manicure|pedicure|wax|massage|facial|highlights|beard|check-?up|cleaning)",
    ),
    rule(
        Booking,
        0.5,
        r"\b(for|party of) (\d+|two|three|four|five|six|seven|eight|ten) (people|of us|guests)\b",
    ),
    rule(
        Booking,
        0.45,
        r"\b(come in|come by|pop in|fit me in|squeeze me in|get me in)\b",
    ),
    rule(
        Booking,
        0.35,
        r"\b(that works|i'll take (it|that|the)|sounds good|works for me)\b",
    ),
    only(
        Booking,
        0.55,
        r"\b(can|could|would) (you|someone|somebody|anyone)\b[^.?!]{0,25}\b(come|pop round|come out|send someone|take a look|have a look)",
        TRADES,
    ),
    only(
        Booking,
        0.45,
        r"\b(call-?out|visit|technician|plumber|electrician|locksmith)\b",
        TRADES,
    ),
    only(
        Booking,
        0.4,
        r"\b(see|with) (the|a|dr|doctor|dentist|physio|lawyer|solicitor|accountant)\b",
        &[LiberalProfession],
    ),
    // Reschedule.
    rule(
        Reschedule,
        0.85,
        r"\b(move|change|reschedule|push back|push|bring forward|shift|rearrange|switch)\b[^.?!]{0,40}\b(appointment|booking|reservation|slot|time|date|session|visit)",
    ),
    rule(
        Reschedule,
        0.7,
        r"\b(reschedule|rearrange|push it back|bring it forward|move it)\b",
    ),
    rule(
        Reschedule,
        0.55,
        r"\b(another|a different|a later|an earlier) (day|time|slot|date)\b",
    ),
    rule(Reschedule, 0.45, r"\binstead\b"),
    rule(
        Reschedule,
        0.6,
        r"\b(change|move|switch|swap|shift) (it|that|this|us|me)\b",
    ),
    rule(
        Reschedule,
        0.7,
        r"\b(move|switch|change|push|swap) (it |me |us |that |things )?(to|till|until) (mon|tues|wednes|thurs|fri|satur|sun)day",
    ),
    // Cancellation.
    rule(
        Cancellation,
        0.85,
        r"\b(cancel|cancell?ation|cancelling|canceling|cancelled|canceled)\b",
    ),
    rule(
        Cancellation,
        0.75,
        r"\b(unsubscribe|terminate|end my (subscription|contract|membership)|stop my (subscription|order|membership)|close my account)",
    ),
    rule(
        Cancellation,
        0.55,
        r"\b(won't|will not|can't|cannot|not going to|unable to) (make it|come|be able to (come|make it|attend)|attend|be there)\b",
    ),
    rule(
        Cancellation,
        0.45,
        r"\b(don't|no longer) need (it|the|my|that)",
    ),
    rule(
        Cancellation,
        0.7,
        r"\b(give|let) (it|that|that one|the table|the slot|my slot|the appointment) (go )?to (someone|somebody) else",
    ),
    rule(
        Cancellation,
        0.55,
        r"\b(not|won't be|aren't|isn't) (going to|able to|gonna) (get out|get there|get in|make it|come|go ahead)",
    ),
    // Quote request.
    rule(
        QuoteRequest,
        0.85,
        r"\b(a|an|free|rough|new) (quote|quotation|estimate)\b",
    ),
    rule(
        QuoteRequest,
        0.6,
        r"\b(quote|quotation|estimate) (for|on)\b",
    ),
    rule(QuoteRequest, 0.4, r"\b(quote|quotation)\b"),
    rule(
        QuoteRequest,
        0.7,
        r"\b(estimate|ballpark|rough (price|figure|idea))\b",
    ),
    only(
        QuoteRequest,
        0.6,
        r"\b(how much|what would it cost|what's the cost|what would you charge|price)\b[^.?!]{0,40}\b(cost|charge|replace|install|fix|fit|redo|rewire|repair|renovat|change|for the job)",
        TRADES,
    ),
    rule(
        QuoteRequest,
        0.5,
        r"\b(rough idea of (the )?(price|cost)|how much roughly|roughly how much)",
    ),
    only(
        QuoteRequest,
        0.55,
        r"\b(catering|private (hire|room|event)|party of \d\d|wedding|corporate event)\b",
        &[Restaurant],
    ),
    // Complaint.
    rule(Complaint, 0.85, r"\b(complaint|complain|complaining)\b"),
    rule(
        Complaint,
        0.7,
        r"\b(still (not|hasn't|haven't|hasn't been)|never) (received|arrived|turned up|showed up|delivered|got|heard back|been refunded|called back)",
    ),
    rule(
        Complaint,
        0.6,
        r"\b(hasn't|haven't|didn't|never) (arrived|come|turned up|shown up|received|got it)",
    ),
    except(
        Complaint,
        0.6,
        r"\b(broken|damaged|faulty|defective|doesn't work|does not work|stopped working|not working|cracked|scratched|dented)\b",
        NOT_TRADES,
    ),
    rule(
        Complaint,
        0.7,
        r"\b(charged (me )?twice|double charged|overcharged|wrong (size|item|order|colou?r|address|amount)|was missing|is missing|were missing|mistake on|error on)",
    ),
    rule(
        Complaint,
        0.65,
        r"\b(unacceptable|ridiculous|disgrace|disgraceful|outrageous|disappointed|disappointing|unhappy|not happy|not impressed|not good enough|fed up|not great|not ok|not okay|useless|terrible|awful)\b",
    ),
    rule(
        Complaint,
        0.65,
        r"\b(i wanted to let you know|i just wanted to let you know|i wanted to flag|i need to report|report a problem|a problem with|an issue with|a bit of an issue|a bit of a problem)",
    ),
    rule(Complaint, 0.5, r"\b(late|delayed|delay)\b"),
    rule(
        Complaint,
        0.5,
        r"\b(waited|waiting|been waiting)\b[^.?!]{0,25}\b(hour|hours|weeks|days|months|minutes)\b",
    ),
    rule(
        Complaint,
        0.55,
        r"\b(refund|money back|compensation|reimburse)",
    ),
    rule(
        Complaint,
        0.45,
        r"\b(rude|cold|undercooked|overcooked|burnt|uneven|wrong|sick|botched|messed up)\b",
    ),
    rule(
        Complaint,
        0.7,
        r"\b(don't want to (cause|make) (any )?(trouble|a fuss)|don't want to be (difficult|a pain)|sorry to be a pain|hate to complain|not to make a fuss)",
    ),
    rule(
        Complaint,
        0.6,
        r"\b(leaking|dripping|broken|faulty|not working|stopped working|playing up|come loose|falling off)\b[^.?!]{0,15}\bagain\b",
    ),
    rule(
        Complaint,
        0.55,
        r"\b(came|come|turned) out (really|quite|too|all|a bit|much|way)\b",
    ),
    rule(
        Complaint,
        0.45,
        r"\b(i was told|you said|we were told|i was promised|we were promised)\b",
    ),
    rule(Complaint, 0.5, r"\b(upset|gutted|let down)\b"),
    rule(
        Complaint,
        0.55,
        r"\b(ruined|spoilt|spoiled|nobody (came|told|called|rang|mentioned|got back)|no one (came|told|called|rang|mentioned|got back)|someone should know|more than the (written )?quote|not paying|extra costs?)\b",
    ),
    rule(
        Complaint,
        0.45,
        r"\b(hope it can be (fixed|sorted)|(sorted|fixed|right) this time)",
    ),
    // Callback request.
    rule(
        CallbackRequest,
        0.85,
        r"\b(call me back|ring me back|give me a (call|ring)|call back|get back to me|phone me back|have (him|her|someone|them) call me|call me later|return my call|callback)\b",
    ),
    rule(
        CallbackRequest,
        0.55,
        r"\b(leave|take) (a|my) (message|number)\b",
    ),
    // Information.
    rule(
        Information,
        0.75,
        r"\b(opening (hours|times)|what time (do|are) you|are you open|when do you (open|close)|open (on|this|tomorrow|sunday|monday|late)|closed (on|this|tomorrow)|your hours)",
    ),
    except(
        Information,
        0.7,
        r"\b(how much (is|are|does|do|for)|what do you charge|your prices|the price|prices|price list|what's the price|what does it cost)",
        NOT_TRADES,
    ),
    rule(
        Information,
        0.7,
        r"\b(in stock|still available|do you (still )?have|do you carry|do you sell|back in stock|restock|available in)",
    ),
    rule(
        Information,
        0.75,
        r"\b(where is|status of|track|tracking|update on|check on)\b[^.?!]{0,20}\b(order|parcel|package|delivery|repair|application|case)",
    ),
    rule(
        Information,
        0.6,
        r"\b(your address|where are you|where (is|are) (you|the shop|the office)|parking|directions|how do i get)",
    ),
    rule(
        Information,
        0.6,
        r"\b(do you (do|offer|take|accept|deliver)|can i pay|card payment|cash only)",
    ),
    rule(
        Information,
        0.6,
        r"\b(i (was )?wondering|i'd like to know|i wanted to (ask|know|check)|quick question|could you tell me|can you tell me|just checking)",
    ),
    rule(
        Information,
        0.55,
        r"\b(allerg|gluten|vegetarian|vegan|menu|dairy|nut free|halal)",
    ),
    rule(
        Information,
        0.5,
        r"\b(how long (does|will|would)|lead time|turnaround)\b",
    ),
    rule(
        Information,
        0.6,
        r"\b(what do (i|we) need to|when do you need|which documents|what documents|what paperwork|do you (ship|post|deliver) to)\b",
    ),
    // Transfer to a person.
    rule(
        TransferToHuman,
        0.85,
        r"\b(speak|talk|put me through|get me|connect me)\b[^.?!]{0,25}\b(someone|somebody|a person|a human|real person|manager|owner|supervisor|boss|the doctor|dr|staff|receptionist|advisor|adviser)",
    ),
    rule(
        TransferToHuman,
        0.85,
        r"\b(transfer me|put me through|put someone on)\b",
    ),
    rule(
        TransferToHuman,
        0.7,
        r"\b(not a (robot|machine|bot)|real human|human being|an actual person)",
    ),
    // Anything else.
    rule(
        Other,
        0.85,
        r"\b(wrong number|dialled the wrong|dialed the wrong|misdialled|misdialed|sorry,? wrong)",
    ),
    rule(
        Other,
        0.8,
        r"\b(job application|my cv|my resume|are you hiring|any vacancies|apprenticeship|work experience|position advertised)",
    ),
    rule(
        Other,
        0.75,
        r"\b(i'm calling from|calling on behalf of|our services|special offer for businesses|partnership|advertising|marketing|survey|seo|energy supplier)",
    ),
];

/// One language's rules, compiled once.
struct Compiled {
    set: RegexSet,
    patterns: Vec<Regex>,
    rules: &'static [Rule],
}

fn compile(rules: &'static [Rule]) -> Compiled {
    // Patterns and texts are folded to ASCII, and word boundaries are ASCII ones: with a
    // Unicode `\b` the regex engine leaves its DFA for a slow NFA on every accented text.
    let sources: Vec<String> = rules
        .iter()
        .map(|r| fold(r.pattern).text.replace(r"\b", r"(?-u:\b)"))
        .collect();
    let set = RegexSetBuilder::new(&sources)
        .case_insensitive(true)
        .build()
        .unwrap_or_else(|e| panic!("an intent pattern does not compile: {e}"));
    let patterns = sources
        .iter()
        .map(|source| {
            regex::RegexBuilder::new(source)
                .case_insensitive(true)
                .build()
                .unwrap_or_else(|e| panic!("an intent pattern does not compile: {e}"))
        })
        .collect();
    Compiled {
        set,
        patterns,
        rules,
    }
}

/// A text folded to ASCII ("é" to "e", "œ" to "oe", a curly apostrophe to a straight one,
/// other letters to "x", other signs to a space), with where each of its bytes came from.
struct Folded {
    text: String,
    /// `origin[i]`: the byte of the original text that byte `i` came from; one more entry
    /// for the end.
    origin: Vec<usize>,
}

impl Folded {
    /// The original text's words behind the folded range `start..end`.
    fn original<'a>(&self, original: &'a str, start: usize, end: usize) -> &'a str {
        let from = self.origin[start];
        let to = if end < self.origin.len() - 1 && end > start {
            // The end of the last folded byte's original character.
            let last = self.origin[end - 1];
            last + original[last..].chars().next().map_or(1, char::len_utf8)
        } else {
            original.len()
        };
        &original[from..to.max(from)]
    }
}

fn fold(text: &str) -> Folded {
    let mut folded = String::with_capacity(text.len());
    let mut origin = Vec::with_capacity(text.len() + 1);
    for (at, c) in text.char_indices() {
        let replacement: &str = match c {
            c if c.is_ascii() => {
                folded.push(c);
                origin.push(at);
                continue;
            }
            'à' | 'â' | 'ä' | 'á' => "a",
            'À' | 'Â' | 'Ä' | 'Á' => "A",
            'é' | 'è' | 'ê' | 'ë' => "e",
            'É' | 'È' | 'Ê' | 'Ë' => "E",
            'î' | 'ï' | 'í' => "i",
            'Î' | 'Ï' | 'Í' => "I",
            'ô' | 'ö' | 'ó' => "o",
            'Ô' | 'Ö' | 'Ó' => "O",
            'ù' | 'û' | 'ü' | 'ú' => "u",
            'Ù' | 'Û' | 'Ü' | 'Ú' => "U",
            'ç' => "c",
            'Ç' => "C",
            'ÿ' => "y",
            'ñ' => "n",
            'œ' => "oe",
            'Œ' => "OE",
            'æ' => "ae",
            'Æ' => "AE",
            '’' | '‘' | 'ʼ' => "'",
            c if c.is_alphanumeric() => "x",
            _ => " ",
        };
        folded.push_str(replacement);
        origin.extend(std::iter::repeat_n(at, replacement.len()));
    }
    origin.push(text.len());
    Folded {
        text: folded,
        origin,
    }
}

fn compiled(language: AnalysisLanguage) -> &'static Compiled {
    static FR: OnceLock<Compiled> = OnceLock::new();
    static EN: OnceLock<Compiled> = OnceLock::new();
    match language {
        AnalysisLanguage::Fr => FR.get_or_init(|| compile(FRENCH)),
        AnalysisLanguage::En | AnalysisLanguage::Unknown => EN.get_or_init(|| compile(ENGLISH)),
    }
}

/// An intent found, with where its trigger first stands in the text.
#[derive(Debug, Clone)]
struct Found {
    name: IntentName,
    miss: f64,
    best: f64,
    trigger: String,
    position: usize,
}

/// The intents in `caller_text` (the caller's turns, joined), most confident first; `other`
/// when nothing matched.
pub fn detect(
    caller_text: &str,
    language: AnalysisLanguage,
    sector: Option<Sector>,
) -> Vec<Intent> {
    let folded = fold(caller_text);
    let text = &folded.text;
    let compiled = compiled(language);
    let mut found: Vec<Found> = Vec::new();
    for index in compiled.set.matches(text).iter() {
        let rule = &compiled.rules[index];
        if !applies(rule, sector) {
            continue;
        }
        let Some(m) = compiled.patterns[index].find(text) else {
            continue;
        };
        let trigger = folded.original(caller_text, m.start(), m.end());
        match found.iter_mut().find(|f| f.name == rule.intent) {
            Some(f) => {
                f.miss *= 1.0 - rule.weight;
                if rule.weight > f.best {
                    f.best = rule.weight;
                    f.trigger = trigger.to_string();
                }
                f.position = f.position.min(m.start());
            }
            None => found.push(Found {
                name: rule.intent,
                miss: 1.0 - rule.weight,
                best: rule.weight,
                trigger: trigger.to_string(),
                position: m.start(),
            }),
        }
    }
    resolve(&mut found);
    let mut intents: Vec<(usize, Intent)> = found
        .into_iter()
        .map(|f| {
            (
                f.position,
                Intent {
                    name: f.name,
                    confidence: ((1.0 - f.miss) * 100.0).round() / 100.0,
                    trigger: f.trigger.trim().to_string(),
                },
            )
        })
        .filter(|(_, i)| i.confidence >= MIN_CONFIDENCE)
        .collect();
    // The reason for the call usually comes first; a much stronger later intent still leads.
    intents.sort_by(|(pa, a), (pb, b)| {
        let gap = a.confidence - b.confidence;
        if gap.abs() >= 0.25 {
            b.confidence.total_cmp(&a.confidence)
        } else {
            pa.cmp(pb)
        }
    });
    let mut intents: Vec<Intent> = intents.into_iter().map(|(_, i)| i).collect();
    if intents.is_empty() {
        intents.push(Intent {
            name: Other,
            confidence: 0.5,
            trigger: String::new(),
        });
    }
    intents
}

/// The confidence with which `text` alone shows `intent` (0 when nothing matches).
pub fn confidence_of(
    text: &str,
    language: AnalysisLanguage,
    sector: Option<Sector>,
    intent: IntentName,
) -> f64 {
    let folded = fold(text);
    let compiled = compiled(language);
    let mut miss = 1.0;
    for index in compiled.set.matches(&folded.text).iter() {
        let rule = &compiled.rules[index];
        if rule.intent == intent && applies(rule, sector) {
            miss *= 1.0 - rule.weight;
        }
    }
    1.0 - miss
}

fn applies(rule: &Rule, sector: Option<Sector>) -> bool {
    match sector {
        Some(s) => (rule.only.is_empty() || rule.only.contains(&s)) && !rule.except.contains(&s),
        None => rule.only.is_empty(),
    }
}

/// Intents that patterns cannot tell apart alone: moving or cancelling an appointment
/// names the appointment too, which is no new booking.
fn resolve(found: &mut Vec<Found>) {
    let has = |found: &[Found], name: IntentName| {
        found
            .iter()
            .any(|f| f.name == name && 1.0 - f.miss >= MIN_CONFIDENCE)
    };
    if has(found, Reschedule) || has(found, Cancellation) {
        found.retain(|f| f.name != Booking || f.best >= 0.75 && 1.0 - f.miss >= 0.9);
    }
    if has(found, Reschedule) {
        // "je ne pourrai pas venir mardi, plutôt jeudi" moves the appointment.
        found.retain(|f| f.name != Cancellation || f.best >= 0.85);
    }
    if has(found, QuoteRequest) {
        found.retain(|f| f.name != Information || f.best >= 0.75);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use Sector::{HairBeautySalon, SmeCustomerService};

    fn names(text: &str, language: AnalysisLanguage, sector: Option<Sector>) -> Vec<IntentName> {
        detect(text, language, sector)
            .into_iter()
            .map(|i| i.name)
            .collect()
    }

    #[test]
    fn every_pattern_compiles() {
        assert_eq!(compiled(AnalysisLanguage::Fr).patterns.len(), FRENCH.len());
        assert_eq!(compiled(AnalysisLanguage::En).patterns.len(), ENGLISH.len());
    }

    #[test]
    fn a_booking_and_its_trigger() {
        let found = detect(
            "Bonjour, je voudrais prendre rendez-vous jeudi.",
            AnalysisLanguage::Fr,
            None,
        );
        assert_eq!(found[0].name, Booking);
        assert!(found[0].trigger.contains("prendre rendez-vous"));
    }

    #[test]
    fn accented_words_match_and_the_trigger_keeps_its_accents() {
        let found = detect(
            "Œuf… bref, ÇA VA : je voudrais réserver une table, c’est possible ?",
            AnalysisLanguage::Fr,
            Some(Restaurant),
        );
        assert_eq!(found[0].name, Booking);
        assert!(found[0].trigger.contains("réserver"), "{found:?}");
        let folded = fold("Œuf à l’été");
        assert_eq!(folded.text, "OEuf a l'ete");
        assert_eq!(folded.original("Œuf à l’été", 5, 12), "à l’été");
    }

    #[test]
    fn moving_an_appointment_is_no_new_booking() {
        assert_eq!(
            names(
                "I need to move my appointment to Friday.",
                AnalysisLanguage::En,
                None
            ),
            [Reschedule]
        );
    }

    #[test]
    fn several_intents_in_one_call() {
        let found = names(
            "Mon colis n'est toujours pas arrivé, c'est inadmissible. Je veux annuler la commande. Rappelez-moi.",
            AnalysisLanguage::Fr,
            Some(SmeCustomerService),
        );
        assert_eq!(found, [Complaint, Cancellation, CallbackRequest]);
    }

    #[test]
    fn a_price_question_is_a_quote_for_a_plumber_and_information_in_a_salon() {
        let text = "Combien ça coûterait pour changer le ballon d'eau chaude ?";
        assert_eq!(
            names(text, AnalysisLanguage::Fr, Some(Craftsman)),
            [QuoteRequest]
        );
        assert_eq!(
            names(
                "Combien coûte une couleur ?",
                AnalysisLanguage::Fr,
                Some(HairBeautySalon)
            ),
            [Information]
        );
    }

    #[test]
    fn nothing_recognisable_is_other() {
        assert_eq!(names("Euh... allô ?", AnalysisLanguage::Fr, None), [Other]);
    }
}
