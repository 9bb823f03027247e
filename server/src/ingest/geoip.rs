//! Where an access log's client is: country, city and coordinates from a
//! MaxMind DB (`.mmdb`) file, such as GeoLite2-City or GeoIP2-City, given
//! with `vigie serve --geoip-db PATH`.
//!
//! Without one, `--demo` and the tests use a small City database that
//! Vigie builds from its demo table ([`demo_database`]): one city per
//! country, on the address ranges the demo's clients come from. It holds no
//! MaxMind data, so it carries no licence terms beyond Vigie's.

use std::net::IpAddr;
use std::path::Path;

use maxminddb::geoip2;
use maxminddb_writer::paths::IpAddrWithMask;
use serde::Serialize;

use super::demo_places::{CITIES, CLIENT_RANGES};

/// A loaded GeoIP database.
pub struct GeoIp {
    reader: maxminddb::Reader<Vec<u8>>,
    /// What it is, for the server's log: a path or "demo".
    pub source: String,
}

/// Where an address is, as far as the database knows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Place {
    pub country: Option<String>,
    pub city: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
}

impl GeoIp {
    pub fn open(path: &Path) -> Result<GeoIp, String> {
        let bytes = std::fs::read(path)
            .map_err(|error| format!("cannot read the GeoIP database {}: {error}", path.display()))?;
        GeoIp::from_bytes(bytes, path.display().to_string())
    }

    pub fn from_bytes(bytes: Vec<u8>, source: String) -> Result<GeoIp, String> {
        let reader = maxminddb::Reader::from_source(bytes)
            .map_err(|error| format!("{source} is not a MaxMind DB file: {error}"))?;
        Ok(GeoIp { reader, source })
    }

    /// The attribution its data's licence asks of pages that show its
    /// results (text, link), if it is one that asks.
    pub fn credit(&self) -> Option<(&'static str, &'static str)> {
        let kind = self.reader.metadata().database_type.to_ascii_lowercase();
        if kind.contains("dbip") || kind.contains("db-ip") {
            Some(("IP geolocation by DB-IP", "https://db-ip.com"))
        } else if kind.contains("geolite") {
            Some(("This product includes GeoLite2 data created by MaxMind", "https://www.maxmind.com"))
        } else {
            None
        }
    }

    /// The demo database, built in memory.
    pub fn demo() -> GeoIp {
        GeoIp::from_bytes(demo_database(), "demo".into()).expect("the demo GeoIP database is well-formed")
    }

    /// `None` for an address the database does not cover (private, unknown,
    /// or IPv6 in an IPv4 database): such a client simply has no location.
    ///
    /// Reads MaxMind's City layout (GeoLite2, GeoIP2, DB-IP's own), and the
    /// flat one of the ip-location-db packages (`country_code`, `city`,
    /// `latitude`, `longitude`), such as DB-IP City Lite as `scripts/run`
    /// installs it.
    pub fn locate(&self, ip: IpAddr) -> Option<Place> {
        let found = self.reader.lookup(ip).ok()?;
        let mut place = Place::default();
        if let Ok(Some(city)) = found.decode::<geoip2::City>() {
            place = Place {
                country: city.country.iso_code.map(str::to_string),
                city: city.city.names.english.map(str::to_string),
                lat: city.location.latitude,
                lon: city.location.longitude,
            };
        }
        if place == Place::default() {
            if let Ok(Some(flat)) = found.decode::<FlatRecord>() {
                place = Place { country: flat.country_code, city: flat.city, lat: flat.latitude, lon: flat.longitude };
            }
        }
        (place != Place::default()).then_some(place)
    }
}

/// A record of the flat layout (ip-location-db's MMDB files), whose
/// coordinates may be written as floats or doubles.
#[derive(serde::Deserialize)]
struct FlatRecord {
    country_code: Option<String>,
    city: Option<String>,
    #[serde(default, deserialize_with = "any_float")]
    latitude: Option<f64>,
    #[serde(default, deserialize_with = "any_float")]
    longitude: Option<f64>,
}

fn any_float<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<f64>, D::Error> {
    struct AnyFloat;
    impl serde::de::Visitor<'_> for AnyFloat {
        type Value = Option<f64>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a float or a double")
        }
        fn visit_f32<E>(self, value: f32) -> Result<Self::Value, E> {
            Ok(Some(value as f64))
        }
        fn visit_f64<E>(self, value: f64) -> Result<Self::Value, E> {
            Ok(Some(value))
        }
    }
    deserializer.deserialize_any(AnyFloat)
}

#[derive(Serialize)]
struct CityRecord<'a> {
    country: CountryRecord<'a>,
    city: CityNames<'a>,
    location: LocationRecord,
}

#[derive(Serialize)]
struct CountryRecord<'a> {
    iso_code: &'a str,
}

#[derive(Serialize)]
struct CityNames<'a> {
    names: English<'a>,
}

#[derive(Serialize)]
struct English<'a> {
    en: &'a str,
}

#[derive(Serialize)]
struct LocationRecord {
    latitude: f64,
    longitude: f64,
}

/// A City database placing each demo client range in its country's city.
pub fn demo_database() -> Vec<u8> {
    let mut db = maxminddb_writer::Database::default();
    db.metadata.database_type = "Vigie-Demo-City".into();
    db.metadata.languages = vec!["en".into()];
    db.metadata.binary_format_major_version = 2;
    db.metadata.description.insert("en".into(), "Vigie demo client ranges, one city per country".into());
    for &(country, first, second_from, second_to) in CLIENT_RANGES {
        let &(_, city, lat, lon) =
            CITIES.iter().find(|(code, ..)| *code == country).expect("every demo country has a city");
        let record = CityRecord {
            country: CountryRecord { iso_code: country },
            city: CityNames { names: English { en: city } },
            location: LocationRecord { latitude: lat, longitude: lon },
        };
        let data = db.insert_value(record).expect("a city record serialises");
        for second in second_from..=second_to {
            let network = IpAddr::from([first, second, 0, 0]);
            db.insert_node(IpAddrWithMask::new(network, 16), data);
        }
    }
    db.write_to(Vec::new()).expect("writing to memory cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_of_the_flat_layout_places_its_clients_too() {
        let mut db = maxminddb_writer::Database::default();
        db.metadata.database_type = "dbip-city-ipv4".into();
        db.metadata.binary_format_major_version = 2;
        #[derive(Serialize)]
        struct Flat<'a> {
            country_code: &'a str,
            city: &'a str,
            latitude: f32,
            longitude: f32,
        }
        let data =
            db.insert_value(Flat { country_code: "PT", city: "Lisbon", latitude: 38.7, longitude: -9.1 }).unwrap();
        db.insert_node(IpAddrWithMask::new(IpAddr::from([5, 6, 0, 0]), 16), data);
        let geoip = GeoIp::from_bytes(db.write_to(Vec::new()).unwrap(), "flat".into()).unwrap();
        let lisbon = geoip.locate("5.6.7.8".parse().unwrap()).unwrap();
        assert_eq!((lisbon.country.as_deref(), lisbon.city.as_deref()), (Some("PT"), Some("Lisbon")));
        assert!((lisbon.lat.unwrap() - 38.7).abs() < 0.01 && (lisbon.lon.unwrap() + 9.1).abs() < 0.01);
        assert_eq!(geoip.locate("5.7.0.1".parse().unwrap()), None);
    }

    #[test]
    fn the_demo_database_places_demo_clients_and_nobody_else() {
        let geoip = GeoIp::demo();
        let paris = geoip.locate("2.3.4.5".parse().unwrap()).unwrap();
        assert_eq!(paris.country.as_deref(), Some("FR"));
        assert_eq!(paris.city.as_deref(), Some("Paris"));
        assert!((paris.lat.unwrap() - 48.86).abs() < 0.1 && (paris.lon.unwrap() - 2.35).abs() < 0.1);
        assert_eq!(geoip.locate("126.200.1.1".parse().unwrap()).unwrap().country.as_deref(), Some("JP"));
        assert_eq!(geoip.locate("10.0.0.1".parse().unwrap()), None);
        assert_eq!(geoip.locate("2001:db8::1".parse().unwrap()), None);
    }

    #[test]
    fn a_file_that_is_not_a_database_is_refused_with_its_name() {
        let error = GeoIp::from_bytes(b"not a database".to_vec(), "bad.mmdb".into()).err().unwrap();
        assert!(error.starts_with("bad.mmdb is not a MaxMind DB file"), "{error}");
    }
}
