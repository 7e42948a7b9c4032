//! The seed's examples (`mini-telemetry.fr.md`), in Rust, with the seed's own names and values.
//!
//! ```text
//! cargo run --release --example quickstart            # JSON Lines on stdout
//! MINI_TELEMETRY_FORMAT=text cargo run --release --example quickstart
//! ```

use mini_telemetry::{KeyValue, Status, info};
use std::fmt;

/// The error the seed's `try/except` block catches.
#[derive(Debug)]
struct ErreurMétier(String);

impl fmt::Display for ErreurMétier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ErreurMétier {}

fn opération_risquée() -> Result<(), ErreurMétier> {
    Err(ErreurMétier("la base de données ne répond pas".into()))
}

fn main() {
    // 1. Initialisation (fait une seule fois)
    let telemetry = mini_telemetry::init("mon-service", "1.0.0", "production").expect("init");

    // 2. Obtenir les outils pour chaque composant
    let tracer = mini_telemetry::tracer("mon.module");
    let meter = mini_telemetry::meter("mon.module");
    let logger = mini_telemetry::logger("mon.module");

    // Métriques : compteur, histogramme, jauge (et une jauge observée à l'export).
    let counter = meter
        .counter("requêtes")
        .with_description("Nombre de requêtes traitées")
        .with_unit("1")
        .build();
    let histogram = meter
        .histogram("latence")
        .with_description("Temps de réponse des requêtes")
        .with_unit("ms")
        .build();
    let jauge = meter
        .gauge("mémoire.utilisée")
        .with_description("Utilisation mémoire")
        .with_unit("By")
        .build();
    meter
        .observable_gauge("threads.actifs", |obs| {
            obs.observe(1.0, &[KeyValue::new("pool", "principal")])
        })
        .with_description("Threads actifs, observés à chaque export")
        .build();

    // 3. Utiliser ces outils dans votre code
    {
        // Créer un span parent
        let span = tracer.start("opération-principale");
        // Ajouter des attributs
        span.set_attribute("utilisateur.id", "123");

        // Le logger ajoute automatiquement les IDs de trace et span
        logger.info("Traitement démarré");

        // Créer un span enfant (sous-opération)
        {
            let _child = tracer.start("sous-opération");
            // Opération enfant...
        }

        // Enregistrer un événement
        span.add_event("événement-important", &[KeyValue::new("détail", "valeur")]);

        // Incrémenter le compteur (avec attributs) et enregistrer une latence
        counter.add(
            1,
            &[
                KeyValue::new("endpoint", "/api"),
                KeyValue::new("méthode", "GET"),
            ],
        );
        histogram.record(42.5, &[KeyValue::new("endpoint", "/api")]);
        jauge.set(512.0 * 1024.0 * 1024.0, &[]);

        // Avec contexte supplémentaire
        info!(
            logger,
            "Opération terminée",
            durée_ms = 123,
            status = "success"
        );

        // Définir le statut
        span.set_status(Status::Ok);
    }

    // Bonnes pratiques : les mêmes attributs pour les spans et les métriques associées
    tracer.in_span("http.request", |span| {
        span.set_attribute("endpoint", "/api/users");
        counter.add(1, &[KeyValue::new("endpoint", "/api/users")]);
    });

    // Gestion des erreurs
    tracer.in_span("opération-risquée", |span| {
        if let Err(e) = opération_risquée() {
            // Enregistrer l'exception dans le span
            span.record_exception(&e);
            span.set_status(Status::error(&e.to_string()));
            logger.error_with_exception(&format!("Erreur: {e}"), &e, &[]);
        }
    });
    logger.error_with_exception(
        "Une erreur s'est produite",
        &ErreurMétier("délai dépassé".into()),
        &[],
    );

    // Dropping the guard (or calling shutdown) flushes everything and exports metrics once more.
    drop(telemetry);
}
