//! The tray icon's four pictures, drawn in code: a disc in the state's colour with a white
//! screen in it. The colours are far apart so a screenshot tells the states apart.

/// Side of the square icons, in pixels.
pub const SIZE: u32 = 32;

/// Which picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IconState {
    /// Blue: showing the code, nobody connected.
    Waiting,
    /// Amber: a viewer asks.
    Asked,
    /// Red: the screen is shared.
    Sharing,
    /// Grey: the signaling server is away; reconnecting, no code.
    Offline,
}

impl IconState {
    /// The disc's colour.
    pub fn rgb(self) -> [u8; 3] {
        match self {
            IconState::Waiting => [0x28, 0x6e, 0xe6],
            IconState::Asked => [0xf5, 0xaa, 0x14],
            IconState::Sharing => [0xdc, 0x28, 0x28],
            IconState::Offline => [0x80, 0x80, 0x80],
        }
    }

    /// The icon as SIZE × SIZE RGBA, row by row.
    pub fn rgba(self) -> Vec<u8> {
        let [r, g, b] = self.rgb();
        let mut out = Vec::with_capacity((SIZE * SIZE * 4) as usize);
        let c = (SIZE as f32 - 1.0) / 2.0;
        let radius = SIZE as f32 / 2.0 - 1.0;
        for y in 0..SIZE {
            for x in 0..SIZE {
                let (dx, dy) = (x as f32 - c, y as f32 - c);
                let inside = dx * dx + dy * dy <= radius * radius;
                // The "screen": a white outline of a monitor in the disc's middle.
                let screen = (9..=22).contains(&x)
                    && (10..=19).contains(&y)
                    && (x == 9 || x == 22 || y == 10 || y == 19);
                let stand = (14..=17).contains(&x) && (20..=22).contains(&y);
                let pixel = match (inside, screen || stand) {
                    (false, _) => [0, 0, 0, 0],
                    (true, true) => [0xff, 0xff, 0xff, 0xff],
                    (true, false) => [r, g, b, 0xff],
                };
                out.extend_from_slice(&pixel);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_distinct_opaque_discs() {
        let states = [IconState::Waiting, IconState::Asked, IconState::Sharing, IconState::Offline];
        for state in states {
            let rgba = state.rgba();
            assert_eq!(rgba.len(), (SIZE * SIZE * 4) as usize);
            let centre = ((SIZE / 2 * SIZE + 4) * 4) as usize;
            assert_eq!(&rgba[centre..centre + 3], &state.rgb());
            assert_eq!(rgba[3], 0, "corners are transparent");
        }
        assert_ne!(states[0].rgba(), states[1].rgba());
        assert_ne!(states[1].rgba(), states[2].rgba());
        assert_ne!(states[2].rgba(), states[3].rgba());
        assert_ne!(states[3].rgba(), states[0].rgba());
    }
}
