//! Public IPv4 ranges by country, for demo client addresses. Each range is
//! a real allocation of a large access or cloud network of that country, so
//! a GeoIP database places the demo's clients where this table says.

/// `(ISO country code, first octet, second octets from, to)`.
pub const CLIENT_RANGES: &[(&str, u8, u8, u8)] = &[
    ("US", 3, 0, 255),    // Amazon
    ("US", 73, 0, 255),   // Comcast
    ("FR", 2, 0, 15),     // Orange
    ("FR", 90, 0, 127),   // Orange
    ("DE", 79, 192, 255), // Deutsche Telekom
    ("DE", 5, 9, 9),      // Hetzner
    ("GB", 86, 128, 191), // BT
    ("GB", 81, 2, 2),
    ("NL", 145, 0, 63),
    ("ES", 88, 0, 31),   // Telefonica
    ("IT", 93, 32, 63),  // Telecom Italia
    ("JP", 126, 0, 255), // SoftBank
    ("KR", 211, 32, 63),
    ("IN", 49, 32, 63),  // Reliance Jio
    ("CN", 36, 96, 127), // China Telecom
    ("SG", 119, 73, 73),
    ("AU", 1, 120, 127), // Telstra
    ("BR", 177, 0, 255),
    ("MX", 187, 128, 191),
    ("CA", 24, 36, 36),
    ("ZA", 41, 0, 31),
    ("NG", 102, 88, 91),
    ("SE", 90, 224, 231),
    ("PL", 83, 0, 31),
];

/// Traffic weight of each range, in the order above: most from the US and
/// Europe, a long tail elsewhere.
pub const CLIENT_WEIGHTS: &[u32] = &[14, 10, 9, 6, 6, 2, 6, 1, 3, 3, 3, 4, 2, 5, 2, 1, 2, 4, 2, 3, 1, 1, 1, 2];

/// The city each country's demo clients are placed in, with its
/// coordinates: `(ISO country code, city, latitude, longitude)`.
pub const CITIES: &[(&str, &str, f64, f64)] = &[
    ("US", "Ashburn", 39.04, -77.49),
    ("FR", "Paris", 48.86, 2.35),
    ("DE", "Frankfurt", 50.11, 8.68),
    ("GB", "London", 51.51, -0.13),
    ("NL", "Amsterdam", 52.37, 4.90),
    ("ES", "Madrid", 40.42, -3.70),
    ("IT", "Milan", 45.46, 9.19),
    ("JP", "Tokyo", 35.68, 139.69),
    ("KR", "Seoul", 37.57, 126.98),
    ("IN", "Mumbai", 19.08, 72.88),
    ("CN", "Shanghai", 31.23, 121.47),
    ("SG", "Singapore", 1.35, 103.82),
    ("AU", "Sydney", -33.87, 151.21),
    ("BR", "São Paulo", -23.55, -46.63),
    ("MX", "Mexico City", 19.43, -99.13),
    ("CA", "Toronto", 43.65, -79.38),
    ("ZA", "Johannesburg", -26.20, 28.05),
    ("NG", "Lagos", 6.52, 3.38),
    ("SE", "Stockholm", 59.33, 18.07),
    ("PL", "Warsaw", 52.23, 21.01),
];
